export { TenantAccessExceptionFilter, tenantAccessProblem } from './tenant-access.filter';
export { tenantAccessAnswer, type TenantAccessAnswer } from './tenant-access.problem';
export {
  TENANT_IDENTITY,
  TENANT_TOKEN_VERIFIER,
  TenantAuthGuard,
  type TenantIdentifiedRequest,
  type TenantIdentity,
} from './tenant-auth.guard';
export {
  CurrentTenant,
  TENANT_REQUEST_CONTEXT,
  TenantContext,
  TenantContextMissingError,
  TenantDataSource,
  tenantRequestContext,
  type TenantRequestContext,
} from './tenant-context';
export { TenantContextInterceptor } from './tenant-context.interceptor';
export { TENANT_REQUEST_RATE, TenantRequestRate, type TenantRequestRateCounts } from './tenant-request-rate';
export { tenantRouterOptionsFromConfig } from './tenant-router-options';
export { INITIALISATION_BUCKETS, registerTenantRouterMetrics } from './tenant-router.metrics';
export {
  TenantRouterModule,
  type TenantRouterModuleAsyncOptions,
  type TenantRouterSetup,
} from './tenant-router.module';
export { TenantScoped } from './tenant-scoped.decorator';
