import { assertNever, TenantError, TenantErrorCode } from '@silo/core';
import { problem, type ProblemAnswer, type ProblemDetails } from '@silo/http';

/** The API's answer to a {@link TenantError}; other errors are left to the filter. */
export function tenantErrorProblem(exception: unknown): ProblemAnswer | undefined {
  return exception instanceof TenantError ? { body: tenantProblem(exception) } : undefined;
}

/** Each domain error code has one HTTP answer; a new code fails to compile until it has one. */
function tenantProblem(error: TenantError): ProblemDetails {
  switch (error.code) {
    case TenantErrorCode.INVALID_SLUG:
      return problem(400, error.message, { errors: [{ field: 'slug', message: error.message }] });
    case TenantErrorCode.TENANT_NOT_FOUND:
      return problem(404, 'No tenant has this id or slug.');
    case TenantErrorCode.SLUG_TAKEN:
      return problem(409, error.message);
    case TenantErrorCode.ILLEGAL_TRANSITION:
      return problem(409, error.message, error.tenantStatus ? { tenantStatus: error.tenantStatus } : {});
    case TenantErrorCode.IDEMPOTENCY_KEY_REUSED:
      return problem(422, error.message);
    case TenantErrorCode.TENANT_BUSY:
    case TenantErrorCode.UNDELETE_REFUSED:
      return problem(409, error.message, { ...error.detail });
    case TenantErrorCode.UNKNOWN_REGION:
      return problem(422, error.message, {
        errors: [{ field: 'region', message: error.message }],
        allowedRegions: (error.detail.allowedRegions ?? '').split(',').filter(Boolean),
      });
    case TenantErrorCode.CHANGE_REFUSED:
    case TenantErrorCode.PLACEMENT_CHANGE_NOT_SUPPORTED:
      return problem(422, error.message, { ...error.detail });
    default:
      return assertNever(error.code, 'tenant error code');
  }
}
