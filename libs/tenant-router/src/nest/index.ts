// @silo/tenant-router/nest: the data plane as a Nest module, guard, interceptor and filter.
export { TenantAccessExceptionFilter, tenantAccessProblem } from './tenant-access.filter';
export {
  TENANT_IDENTITY,
  TENANT_TOKEN_VERIFIER,
  TenantAuthGuard,
  type TenantIdentifiedRequest,
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
export { TENANT_REQUEST_RATE } from '../tenant-request-rate';
export {
  TenantRouterModule,
  type TenantRouterModuleAsyncOptions,
  type TenantRouterModuleOptions,
} from './tenant-router.module';
export { TenantScoped } from './tenant-scoped.decorator';
