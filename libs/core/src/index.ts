export * from './tenant/tenant-status';
export * from './tenant/tenant-lifecycle';
export * from './tenant/tenant-slug';
export * from './tenant/tenant.errors';
export * from './tenant/tier';
export * from './sql/sql-identifier';
export * from './provisioning/provisioning.errors';
export * from './provisioning/tenant-resource-names';
