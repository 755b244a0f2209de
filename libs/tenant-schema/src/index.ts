export { bootstrapAppRole, dropAppRole, type AppRoleSpec } from './bootstrap-app-role';
export { materialiseLocalInstance, removeLocalInstance, type LocalInstance } from './local-instance-host';
export type { PgEndpoint, PgTls } from './pg-endpoint';
export {
  runTenantMigrations,
  TENANT_MIGRATIONS_TABLE,
  type TenantMigrationResult,
} from './tenant-migrations/run-tenant-migrations';
export { NoteEntity } from './tenant-migrations/note.entity';
export { TENANT_MIGRATIONS } from './tenant-migrations/tenant-migrations';
export { scramSha256Verifier } from './scram-verifier';
