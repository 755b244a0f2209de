import { tenantResourceNames } from '../../libs/core/src';
import { appLoginRoles, removeLocalInstance } from '../../libs/tenant-schema/src';
import { testServices } from './test-services';

/** Drops the database and roles the local instance backend made for a tenant, if any. */
export async function removeTenantInstance(prefix: string, slug: string): Promise<void> {
  const names = tenantResourceNames(prefix, slug);
  await removeLocalInstance(testServices.postgresAdminUrl, {
    database: names.instanceIdentifier,
    roles: [...appLoginRoles(names.appRole), names.appRole, names.masterUsername],
  });
}
