import type { TenantStatus } from '@silo/core/tenant/tenant-status';

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

export enum TenantLeaseErrorCode {
  /**
   * Work for a pooled tenant asked for its DataSource (or an EntityManager or repository on it)
   * instead of a transaction: the DataSource is shared by every tenant of the host, and only a
   * lease's transaction sets the tenant that row-level security checks.
   */
  POOLED_TENANT_NEEDS_TRANSACTION = 'POOLED_TENANT_NEEDS_TRANSACTION',
}

/** A lease used in a way its tenant's placement does not allow: a bug in the calling code, not a refusal. */
export class TenantLeaseError extends Error {
  override readonly name = 'TenantLeaseError';
  constructor(
    readonly code: TenantLeaseErrorCode,
    message: string,
    readonly details: { tenantId: string },
  ) {
    super(message);
  }
}

export function pooledTenantNeedsTransaction(tenantId: string): TenantLeaseError {
  return new TenantLeaseError(
    TenantLeaseErrorCode.POOLED_TENANT_NEEDS_TRANSACTION,
    `tenant ${tenantId} is pooled: its DataSource is shared with the other tenants of its host; run the work in lease.transaction() (TenantContext.transaction()), which sets the tenant first`,
    { tenantId },
  );
}
