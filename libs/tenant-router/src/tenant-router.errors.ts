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
  /**
   * The tenant is moving: its writes stayed paused for a cut-over longer than `movePauseWaitMs`,
   * or its old database refused a write (SQLSTATE 25006) because it is served elsewhere now.
   * Retry after `retryAfterMs`: the next call is served from the tenant's new place.
   */
  TENANT_MOVING = 'TENANT_MOVING',
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

/** How soon a caller refused for a move should try again. */
const MOVING_RETRY_AFTER_MS = 1_000;

/** The tenant is moving (TENANT_MOVING); `reason` says why this call is refused. */
export function tenantMoving(tenantId: string, reason: string, cause?: unknown): TenantAccessError {
  return new TenantAccessError(
    TenantAccessErrorCode.TENANT_MOVING,
    `tenant ${tenantId} is moving: ${reason}`,
    { tenantId, retryAfterMs: MOVING_RETRY_AFTER_MS },
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
