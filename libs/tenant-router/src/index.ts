export * from './tenant-router.errors';
export * from './tenant-router.types';
export { TenantRouter } from './tenant-router';
export { TENANT_ROUTER_APPLICATION_NAME } from './tenant-data-source';
export * from './adapters';
export * from './nest';
