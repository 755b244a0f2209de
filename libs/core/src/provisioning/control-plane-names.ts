/**
 * The control plane's own namespace under the resource prefix: `<prefix>/control-plane/…` names
 * secrets that belong to the control plane itself, never to a tenant (so it is not a tenant slug).
 */
export const CONTROL_PLANE_NAMESPACE = 'control-plane';

/**
 * The PostgreSQL role the data plane logs in to the control-plane database `database` as:
 * `<database>_data_plane` (`silo_data_plane` for the database `silo`). Roles belong to the
 * server, not to a database: one role per control-plane database keeps two control planes on one
 * server (staging and production, or the tests' databases) from sharing a login, and so from
 * reading each other's directory or setting each other's password. A name longer than
 * PostgreSQL's 63 bytes is shortened with a digest of the database's name.
 */
export function dataPlaneRole(database: string): string {
  const role = `${database}_data_plane`;
  if (database.length > 0 && /^[a-z_][a-z0-9_$]*$/.test(database) && role.length <= 63) return role;
  return `dp_${fnv1a64(database)}_data_plane`;
}

/** FNV-1a, 64 bits, as 16 hex digits: a stable short name, not a secret (no crypto needed in core). */
function fnv1a64(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, '0');
}

/** The schema of what the data plane may read in the control-plane database, and its one view. */
export const DATA_PLANE_SCHEMA = 'data_plane';
export const TENANT_DIRECTORY_VIEW = 'tenant_directory';

/**
 * The Secrets Manager secret of the data plane's login to the control-plane database
 * (`<prefix>/control-plane/data-plane`), in the RDS secret shape of the tenants' app secrets.
 */
export function dataPlaneSecretName(prefix: string): string {
  return `${prefix}/${CONTROL_PLANE_NAMESPACE}/data-plane`;
}

/**
 * The tags of the data-plane secret, wherever it is made (the login step, the prerequisites
 * stack): the control plane's own, `silo:component=control-plane` and the environment, never
 * `managed-by=silo`, which marks what the worker may change and the reconciler may call an orphan.
 */
export function dataPlaneSecretTags(environment: string): Record<string, string> {
  return { 'silo:component': CONTROL_PLANE_NAMESPACE, 'silo:environment': environment };
}
