export {
  appLoginRoles,
  checkLogin,
  nextAppLogin,
  retireAppLogin,
  setAppLogin,
  type AppRolesResult,
} from './app-logins';
export { bootstrapAppRole, dropAppRole, type AppRoleSpec } from './bootstrap-app-role';
export { materialiseLocalInstance, removeLocalInstance, type LocalInstance } from './local-instance-host';
export type { PgEndpoint, PgTls } from './pg-endpoint';
export { pgErrorKind, serverSqlState } from './pg-error-kind';
export {
  BUILT_IN_TENANT_MIGRATIONS_DIR,
  loadTenantMigrations,
  TenantMigrationSetError,
  type TenantMigrationSource,
} from './migrations/load-tenant-migrations';
export { splitSqlStatements } from './migrations/sql-statements';
export {
  compareVersions,
  findMigration,
  versionOrder,
  type MigrationSession,
  type TenantMigration,
  type TenantMigrationSet,
} from './migrations/tenant-migration';
export {
  migrateTenantSchema,
  readTenantLedger,
  TENANT_SCHEMA_LEDGER,
  TenantMigrationError,
  type AppliedMigration,
  type LedgerEntry,
  type MigrateTenantOptions,
  type TenantMigrateResult,
  type TenantMigrationErrorCode,
} from './migrations/tenant-migrator';
export { NoteEntity } from './note.entity';
export { AppRoleMembershipError, describeMemberships, type RoleMembership } from './role-memberships';
export { terminateSessions, type TerminatedSessions } from './role-sessions';
export { scramSha256Verifier } from './scram-verifier';
