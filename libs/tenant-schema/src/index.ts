export {
  appLoginRoles,
  checkLogin,
  nextAppLogin,
  retireAppLogin,
  setAppLogin,
  type AppRolesResult,
} from './app-logins';
export { bootstrapAppRole, dropAppRole, type AppRoleSpec } from './bootstrap-app-role';
export {
  dropReadOnlyLogin,
  disableLogins,
  ensureReadOnlyLogin,
  type ReadOnlyLoginResult,
  type ReadOnlyLoginSpec,
} from './read-only-login';
export {
  RestoreSwapRefused,
  swapTenantData,
  tenantSwapRecorded,
  trimRestoredHost,
  type RestoredHostTrim,
  type TenantDataSwap,
} from './restored-host';
export {
  handOverLocalInstance,
  materialiseLocalInstance,
  removeLocalInstance,
  renameLocalInstance,
  underParameterLock,
  type LocalInstance,
} from './local-instance-host';
export {
  baseBackups,
  clusterDirOf,
  dumpLocalInstance,
  localSnapshot,
  saveLocalSnapshot,
  type LocalSnapshot,
  ensureBaseBackup,
  LocalBackupError,
  restorableWindow,
  restoreLocalInstanceFromDump,
  restoreLocalInstanceToPointInTime,
  takeBaseBackup,
  type BaseBackup,
  type LocalBackupErrorCode,
  type PointInTimeRestoreOptions,
  type PointInTimeRestoreResult,
  type RestorableWindow,
  type RestoreFromDumpOptions,
  type RestoreTarget,
} from './local-backups';
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
  ledgerRebuildSql,
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
export { assertUsablePassword } from './role-attributes';
export { scramSha256Verifier } from './scram-verifier';
export {
  checkedTarget,
  INSTANCE_TARGET,
  SCHEMA_LEDGERS_SCHEMA,
  type MigrationTarget,
} from './placements/migration-target';
export {
  CURRENT_TENANT_SQL,
  enforceTenantIsolation,
  TENANT_ID_COLUMN,
  TENANT_POLICY,
  TENANT_SETTING,
  TenantIsolationError,
} from './placements/tenant-isolation';
export { readRoleDefaults, setRoleDefaults, type RoleDefaults } from './placements/role-defaults';
export {
  dumpTenantSchema,
  TenantDumpError,
  type DumpTenantSchemaOptions,
} from './offboarding/dump-tenant-schema';
export {
  exportTenantRows,
  TENANT_ROWS_FORMAT,
  type TenantRowsExportOptions,
  type TenantRowsRecord,
} from './offboarding/export-tenant-rows';
export {
  importTenantRows,
  importTenantSchema,
  IMPORTS_SCHEMA,
  tenantImported,
  TenantImportError,
  type TenantImportResult,
  type TenantRowsImportOptions,
  type TenantSchemaImportOptions,
} from './offboarding/import-tenant-data';
export {
  dropTenantSchema,
  type DropTenantSchemaOptions,
  type DroppedTenantSchema,
} from './offboarding/drop-tenant-schema';
export {
  deleteTenantRows,
  type DeleteTenantRowsOptions,
  type DeletedTenantRows,
} from './offboarding/delete-tenant-rows';
export {
  abortTenantCopy,
  conninfo,
  copyObjectNames,
  copyProgress,
  cutOverCopy,
  isTenantFrozen,
  MOVED_TENANT_SQLSTATE,
  MOVES_SCHEMA,
  releaseMovedSource,
  startTenantCopy,
  tenantRowDigests,
  TenantCopyError,
  type CopyProgress,
  type CopySide,
  type CutOverResult,
  type TableDigest,
  type TenantCopyPlan,
} from './moves/tenant-copy';
export { claimDirectory, removeAbandonedClusters } from './local-postgres-cluster';
