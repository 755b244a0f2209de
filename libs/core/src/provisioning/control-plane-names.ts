/**
 * The control plane's own namespace under the resource prefix: `<prefix>/control-plane/…` names
 * secrets that belong to the control plane itself, never to a tenant (so it is not a tenant slug).
 */
export const CONTROL_PLANE_NAMESPACE = 'control-plane';

/** The PostgreSQL role the data plane logs in to the control-plane database as. */
export const DATA_PLANE_ROLE = 'silo_data_plane';

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
