import { Client } from 'pg';
import { quoteIdentifier, tenantResourceNames } from '../../libs/core/src';
import { appLoginRoles, removeLocalInstance, underParameterLock } from '../../libs/tenant-schema/src';
import { hostAdminUrl, instanceAdminUrl, secondRegionInstanceAdminUrl } from './test-services';

/** Every server of the run's local instance backend (test-clusters.ts). */
function localBackendServers(): string[] {
  return [instanceAdminUrl(), hostAdminUrl(), secondRegionInstanceAdminUrl()];
}

/** Drops the database and roles the local instance backend made for a tenant, if any, on each of its servers. */
export async function removeTenantInstance(prefix: string, slug: string): Promise<void> {
  const names = tenantResourceNames(prefix, slug);
  for (const server of localBackendServers()) {
    await removeLocalInstance(server, {
      database: names.instanceIdentifier,
      roles: [...appLoginRoles(names.appRole), names.appRole, names.masterUsername],
    });
  }
}

/** Drops every database and role the local backend made under `prefix` (tenants a test did not name). */
export async function removeTenantInstancesUnder(prefix: string): Promise<void> {
  if (!/^[a-z][a-z0-9]{1,15}$/.test(prefix)) throw new Error(`not a test resource prefix: ${prefix}`);
  for (const server of localBackendServers()) await removeUnder(server, prefix);
}

async function removeUnder(server: string, prefix: string): Promise<void> {
  const admin = new Client({ connectionString: server });
  await admin.connect();
  try {
    const { rows: databases } = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE $1`,
      [`${prefix}-%`],
    );
    const { rows: roles } = await admin.query<{ rolname: string }>(
      // Login roles (…_app_a/_b) before the app role, the owner (…_admin) last.
      `SELECT rolname FROM pg_roles WHERE rolname LIKE $1 ORDER BY rolname LIKE '%\\_admin', length(rolname) DESC`,
      [`${prefix}\\_%`],
    );
    for (const { datname } of databases) {
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(datname)} WITH (FORCE)`);
    }
    for (const { rolname } of roles) {
      // An owner's SET privilege on app.tenant_id (materialiseLocalInstance) would block DROP ROLE.
      await underParameterLock(
        admin,
        `REVOKE ALL ON PARAMETER app.tenant_id FROM ${quoteIdentifier(rolname)}`,
      );
      await admin.query(`DROP ROLE IF EXISTS ${quoteIdentifier(rolname)}`);
    }
  } finally {
    await admin.end();
  }
}
