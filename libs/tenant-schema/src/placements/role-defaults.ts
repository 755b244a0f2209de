import { isTenantId, quoteIdentifier } from '@silo/core';
import type { Client } from 'pg';
import { sqlState } from '../pg-endpoint';
import { TENANT_SETTING } from './tenant-isolation';

/** What a tenant's login roles carry as defaults, so the same SQL works with no extra round trip. */
export interface RoleDefaults {
  /** Its `search_path`: the schema its tables are in. */
  schema: string;
  /** Its `app.tenant_id` (instance and schema placements; never the shared pool login). */
  tenantId?: string;
}

const INSUFFICIENT_PRIVILEGE = '42501';

/**
 * In the caller's transaction: `search_path` and `app.tenant_id` as role defaults of `roles`.
 * Setting a custom parameter as a role default takes, from PostgreSQL 15 on, a superuser or
 * `GRANT SET ON PARAMETER app.tenant_id` to the owner; where the owner holds neither, the
 * tenant setting is left out (in a savepoint, so the rest stands) and false is returned: the
 * data-plane router sends it at connection start instead.
 */
export async function setRoleDefaults(
  client: Client,
  roles: string[],
  defaults: RoleDefaults,
): Promise<boolean> {
  const schema = quoteIdentifier(defaults.schema, 'tenant schema');
  if (defaults.tenantId !== undefined && !isTenantId(defaults.tenantId))
    throw new Error(`${JSON.stringify(defaults.tenantId)} is not a tenant id`);
  const quoted = roles.map((role) => quoteIdentifier(role, 'app role'));
  for (const role of quoted) await client.query(`ALTER ROLE ${role} SET search_path = ${schema}`);
  if (defaults.tenantId === undefined) {
    for (const role of quoted) await client.query(`ALTER ROLE ${role} RESET ${TENANT_SETTING}`);
    return true;
  }
  const tenant = client.escapeLiteral(defaults.tenantId);
  await client.query('SAVEPOINT silo_role_defaults');
  try {
    for (const role of quoted) await client.query(`ALTER ROLE ${role} SET ${TENANT_SETTING} = ${tenant}`);
    await client.query('RELEASE SAVEPOINT silo_role_defaults');
    return true;
  } catch (error) {
    if (sqlState(error) !== INSUFFICIENT_PRIVILEGE) throw error;
    await client.query('ROLLBACK TO SAVEPOINT silo_role_defaults');
    return false;
  }
}

/** The defaults {@link setRoleDefaults} gave `role`, if any. */
export async function readRoleDefaults(client: Client, role: string): Promise<RoleDefaults | undefined> {
  const { rows } = await client.query<{ setconfig: string[] | null }>(
    `SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
      WHERE r.rolname = $1 AND s.setdatabase = 0`,
    [role],
  );
  const settings = new Map(
    (rows[0]?.setconfig ?? []).map((entry) => {
      const at = entry.indexOf('=');
      return [entry.slice(0, at), entry.slice(at + 1)] as const;
    }),
  );
  const path = settings.get('search_path');
  if (path === undefined) return undefined;
  // As ALTER ROLE stored it: the quoted identifier Silo gave it.
  const schema = /^"([A-Za-z_][A-Za-z0-9_-]*)"$/.exec(path)?.[1] ?? path;
  const tenantId = settings.get(TENANT_SETTING);
  return { schema, tenantId: tenantId !== undefined && isTenantId(tenantId) ? tenantId : undefined };
}
