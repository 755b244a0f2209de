import type { TenantStatus } from '@silo/core';

export enum TenantAccessErrorCode {
  /** No tenant has this id. */
  TENANT_NOT_FOUND = 'TENANT_NOT_FOUND',
  /** The tenant exists but is not ACTIVE; `status` says what it is. */
  TENANT_NOT_ACTIVE = 'TENANT_NOT_ACTIVE',
  /** The tenant database cannot be reached now (initialisation failed, in backoff, or no capacity). */
  TENANT_DATABASE_UNAVAILABLE = 'TENANT_DATABASE_UNAVAILABLE',
  /** The tenant holds all the concurrent leases its tier allows, and waited for one in vain. */
  TENANT_BUSY = 'TENANT_BUSY',
  /** The tenant made as many requests this second as its tier allows, across every replica. */
  TENANT_RATE_LIMITED = 'TENANT_RATE_LIMITED',
}

/** Why the router would not give a tenant its DataSource; the Nest layer maps each code to HTTP. */
export class TenantAccessError extends Error {
  override readonly name = 'TenantAccessError';
  constructor(
    readonly code: TenantAccessErrorCode,
    message: string,
    readonly details: { tenantId: string; status?: TenantStatus; retryAfterMs?: number },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The tenant's database cannot be reached now; `retryAfterMs` becomes Retry-After. */
export function tenantUnavailable(
  tenantId: string,
  reason: string,
  retryAfterMs: number,
  cause?: unknown,
): TenantAccessError {
  return new TenantAccessError(
    TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE,
    `the database of tenant ${tenantId} is unavailable: ${reason}`,
    { tenantId, retryAfterMs: Math.max(1, Math.ceil(retryAfterMs)) },
    cause === undefined ? undefined : { cause },
  );
}

/** A call after close(). */
export function routerClosed(tenantId = ''): TenantAccessError {
  return new TenantAccessError(
    TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE,
    'the tenant router is closed',
    {
      tenantId,
      retryAfterMs: 1_000,
    },
  );
}
