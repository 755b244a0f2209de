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
