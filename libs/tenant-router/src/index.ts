// @silo/tenant-router: the data plane without a framework. The Nest module is @silo/tenant-router/nest.
export * from './tenant-router.errors';
export * from './tenant-router.types';
export { TenantRouter } from './tenant-router';
export { TENANT_ROUTER_APPLICATION_NAME } from './tenant-data-source';
export { RESTORE_COPY_APPLICATION_NAME } from './restore-copies';
export * from './adapters';
export { tenantAccessAnswer, type TenantAccessAnswer } from './tenant-access.problem';
export { TenantRequestRate, type TenantRequestRateCounts } from './tenant-request-rate';
export { dataPlaneSecretName } from '@silo/core/provisioning/control-plane-names';
export {
  pgTls,
  routerOptions,
  TenantDataPlane,
  tenantTokenVerifier,
  type DatabaseTls,
  type TenantDataPlaneOptions,
  type TenantIdentity,
  type TenantTokenOptions,
} from './data-plane/tenant-data-plane';
export {
  dataPlaneOptionsFromEnv,
  DataPlaneConfigError,
  type DataPlaneEnvironmentOptions,
} from './data-plane/data-plane-environment';
export { DEFAULT_ROUTER_SETTINGS, type RouterSettings } from './data-plane/router-environment';
export { AuthError, AuthErrorCode, type Principal } from '@silo/auth/principal';
export { JwtVerifier } from '@silo/auth/jwt-verifier';
export type { TenantLeaseTime } from './lease-time-top';
export type { Placement } from '@silo/core/provisioning/tenant-resource-names';
export type { TenantStatus } from '@silo/core/tenant/tenant-status';
export type { TierName } from '@silo/core/tenant/tier';
export type { ProblemDetails } from '@silo/http/problem-details';
