import type { TenantStatus } from '@silo/core/tenant/tenant-status';
import type { RestoreCopyStatus } from './tenant-router.types';

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
  /** The tenant has no restore copy of that run (`readRestoreCopy`). */
  RESTORE_COPY_NOT_FOUND = 'RESTORE_COPY_NOT_FOUND',
  /**
   * The tenant's restore copy of that run is past its `expiresAt`, or being removed or removed
   * (`copyStatus` says which): it is not served any more.
   */
  RESTORE_COPY_EXPIRED = 'RESTORE_COPY_EXPIRED',
}

/** Why the router would not give a tenant its DataSource; the Nest layer maps each code to HTTP. */
export class TenantAccessError extends Error {
  override readonly name = 'TenantAccessError';
  constructor(
    readonly code: TenantAccessErrorCode,
    message: string,
    readonly details: {
      tenantId: string;
      status?: TenantStatus;
      retryAfterMs?: number;
      /** The restore copy's run, for RESTORE_COPY_*. */
      run?: number;
      /** The restore copy's status, for RESTORE_COPY_EXPIRED. */
      copyStatus?: RestoreCopyStatus;
    },
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

/** No restore copy `run` of the tenant (RESTORE_COPY_NOT_FOUND). */
export function restoreCopyNotFound(tenantId: string, run: unknown): TenantAccessError {
  const known = typeof run === 'number' && Number.isSafeInteger(run);
  return new TenantAccessError(
    TenantAccessErrorCode.RESTORE_COPY_NOT_FOUND,
    `tenant ${tenantId} has no restore copy ${known ? run : JSON.stringify(String(run).slice(0, 40))}`,
    known ? { tenantId, run } : { tenantId },
  );
}

/** The tenant's restore copy `run` expired, or is being removed or removed (RESTORE_COPY_EXPIRED). */
export function restoreCopyExpired(
  tenantId: string,
  run: number,
  copyStatus: RestoreCopyStatus,
  expiresAt: Date,
): TenantAccessError {
  const why =
    copyStatus === 'AVAILABLE'
      ? `expired at ${expiresAt.toISOString()}`
      : copyStatus === 'REMOVING'
        ? 'is being removed'
        : 'was removed';
  return new TenantAccessError(
    TenantAccessErrorCode.RESTORE_COPY_EXPIRED,
    `the restore copy ${run} of tenant ${tenantId} ${why}`,
    { tenantId, run, copyStatus },
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
