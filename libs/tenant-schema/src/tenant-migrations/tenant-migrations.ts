import { TenantNotes1795400000000 } from './1795400000000-tenant-notes';

/** Migrations of every tenant database, in the order they apply (listed, not globbed). */
export const TENANT_MIGRATIONS = [TenantNotes1795400000000];
