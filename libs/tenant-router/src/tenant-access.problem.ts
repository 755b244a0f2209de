import { assertNever } from '@silo/core/tenant/tenant.errors';
import { problem, type ProblemDetails } from '@silo/http/problem-details';
import { TenantAccessError, TenantAccessErrorCode } from './tenant-router.errors';

/** Retry-After when the router gives no hint of its own. */
const DEFAULT_RETRY_AFTER_SECONDS = 5;

/** The HTTP answer to a refused tenant: status, problem body and headers to set. */
export interface TenantAccessAnswer {
  status: number;
  body: ProblemDetails;
  headers: Record<string, string>;
}

/**
 * Maps each router refusal to HTTP, exhaustively (a new code fails to compile until it has an
 * answer). An unknown tenant is 403 like an inactive one, not 404: the tenant comes from a
 * verified token, so the route exists and it is the credential that is refused, and a caller
 * that cannot tell unknown from refused learns nothing about which tenant ids exist.
 */
export function tenantAccessAnswer(error: TenantAccessError): TenantAccessAnswer {
  switch (error.code) {
    case TenantAccessErrorCode.TENANT_NOT_FOUND:
      return { status: 403, body: problem(403, 'The token’s tenant is not known to Silo.'), headers: {} };
    case TenantAccessErrorCode.TENANT_NOT_ACTIVE: {
      const status = error.details.status ?? 'not ACTIVE';
      return {
        status: 403,
        body: problem(403, `The tenant is ${status}; only ACTIVE tenants are served.`, {
          tenantStatus: error.details.status,
        }),
        headers: {},
      };
    }
    case TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE: {
      return {
        status: 503,
        body: problem(503, 'The tenant’s database cannot be reached right now; retry later.'),
        headers: { 'Retry-After': String(retryAfterSeconds(error)) },
      };
    }
    case TenantAccessErrorCode.TENANT_MOVING:
      return {
        status: 503,
        body: problem(503, 'The tenant is moving to a new place; retry after the time in Retry-After.'),
        headers: { 'Retry-After': String(retryAfterSeconds(error)) },
      };
    case TenantAccessErrorCode.TENANT_BUSY:
      return {
        status: 429,
        body: problem(
          429,
          'The tenant has as many requests in flight as its tier allows; retry after the time in Retry-After.',
        ),
        headers: { 'Retry-After': String(retryAfterSeconds(error)) },
      };
    case TenantAccessErrorCode.TENANT_RATE_LIMITED:
      return {
        status: 429,
        body: problem(
          429,
          'The tenant made as many requests this second as its tier allows; retry after the time in Retry-After.',
        ),
        headers: { 'Retry-After': String(retryAfterSeconds(error)) },
      };
    case TenantAccessErrorCode.RESTORE_COPY_NOT_FOUND:
      return {
        status: 404,
        body: problem(404, 'The tenant has no restore copy of that run.', { run: error.details.run }),
        headers: {},
      };
    case TenantAccessErrorCode.RESTORE_COPY_EXPIRED:
      return {
        status: 410,
        body: problem(410, 'The restore copy has expired or been removed; it is not served any more.', {
          title: 'Gone',
          run: error.details.run,
          copyStatus: error.details.copyStatus,
        }),
        headers: {},
      };
    default:
      return assertNever(error.code, 'tenant access error code');
  }
}

/** Whole seconds, at least 1, from the router's hint (or a default when it gives none). */
function retryAfterSeconds(error: TenantAccessError): number {
  return error.details.retryAfterMs === undefined
    ? DEFAULT_RETRY_AFTER_SECONDS
    : Math.max(1, Math.ceil(error.details.retryAfterMs / 1000));
}
