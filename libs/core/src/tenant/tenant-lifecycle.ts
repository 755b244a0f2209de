import { TenantError, TenantErrorCode } from './tenant.errors';
import type { TenantStatus } from './tenant-status';

const ALLOWED: Readonly<Record<TenantStatus, readonly TenantStatus[]>> = {
  PENDING: ['PROVISIONING'],
  PROVISIONING: ['ACTIVE', 'FAILED'],
  ACTIVE: ['SUSPENDED', 'DEPROVISIONING'],
  SUSPENDED: ['ACTIVE', 'DEPROVISIONING'],
  FAILED: ['PROVISIONING', 'DEPROVISIONING'],
  DEPROVISIONING: ['DELETED'],
  // Only an undelete (inside its secrets' recovery window, from its final snapshot) leaves DELETED.
  DELETED: ['ACTIVE'],
};

export function canTransition(from: TenantStatus, to: TenantStatus): boolean {
  return ALLOWED[from].includes(to);
}

/** The status after `from → to`, or a {@link TenantError} with code ILLEGAL_TRANSITION. */
export function transition(from: TenantStatus, to: TenantStatus): TenantStatus {
  if (!canTransition(from, to)) {
    throw new TenantError(TenantErrorCode.ILLEGAL_TRANSITION, `a tenant cannot go from ${from} to ${to}`);
  }
  return to;
}
