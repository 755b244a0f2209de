import type { TenantStatus } from './tenant-status';

/** The closed set of domain error codes; apps map each to HTTP or to retry/stop exhaustively. */
export enum TenantErrorCode {
  INVALID_SLUG = 'INVALID_SLUG',
  ILLEGAL_TRANSITION = 'ILLEGAL_TRANSITION',
  TENANT_NOT_FOUND = 'TENANT_NOT_FOUND',
  SLUG_TAKEN = 'SLUG_TAKEN',
  /** An Idempotency-Key reused with a different request. */
  IDEMPOTENCY_KEY_REUSED = 'IDEMPOTENCY_KEY_REUSED',
  /** Another change, a rollout's migration or deprovisioning holds the tenant. */
  TENANT_BUSY = 'TENANT_BUSY',
  /** A change AWS would refuse; `detail.rule` names the rule. */
  CHANGE_REFUSED = 'CHANGE_REFUSED',
  /**
   * A tier change to a tier of another placement: moving a tenant between placements is a
   * promotion, not a tier change; `detail` names both placements.
   */
  PLACEMENT_CHANGE_NOT_SUPPORTED = 'PLACEMENT_CHANGE_NOT_SUPPORTED',
  /**
   * An undelete Silo cannot make of this DELETED tenant (409): its secrets' recovery window has
   * ended, its final snapshot is gone, its names are taken; `detail.rule` names why.
   */
  UNDELETE_REFUSED = 'UNDELETE_REFUSED',
  /** A region that is not one of SILO_REGIONS; `detail.allowedRegions` lists them, comma-separated. */
  UNKNOWN_REGION = 'UNKNOWN_REGION',
}

export class TenantError extends Error {
  override readonly name = 'TenantError';
  constructor(
    readonly code: TenantErrorCode,
    message: string,
    /** For ILLEGAL_TRANSITION from a known tenant: the status it was in. */
    readonly tenantStatus?: TenantStatus,
    /**
     * Machine-readable facts for the caller (CHANGE_REFUSED, UNDELETE_REFUSED: `rule`; TENANT_BUSY: `heldBy`;
     * PLACEMENT_CHANGE_NOT_SUPPORTED: `rule`, `fromPlacement`, `toPlacement`).
     */
    readonly detail: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${String(value)}`);
}
