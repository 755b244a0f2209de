import type { TenantShare } from './fair-shares';

/** A tenant and the lease time it held since the previous reading. */
export interface TenantLeaseTime {
  tenantId: string;
  leaseMs: number;
}

/** At most this many tenants in one reading, whatever is asked. */
export const MAX_TOP_TENANTS = 64;

/**
 * The `n` tenants that held leases longest since the previous reading (a metrics scrape), most
 * first. Each share adds its lease time on release (one addition on the warm path); a reading
 * takes the difference since the one before and scans the tenants the router tracks, which is
 * bounded by its own caps, so neither memory nor label cardinality grows with the fleet.
 * Internal.
 */
export function takeTopByLeaseTime(shares: Iterable<[string, TenantShare]>, n: number): TenantLeaseTime[] {
  const top: TenantLeaseTime[] = [];
  const size = Math.max(0, Math.min(n, MAX_TOP_TENANTS));
  for (const [tenantId, share] of shares) {
    const leaseMs = share.leaseMs - share.leaseMsRead;
    share.leaseMsRead = share.leaseMs;
    if (leaseMs <= 0 || size === 0) continue;
    if (top.length === size && leaseMs <= top[size - 1].leaseMs) continue;
    let at = top.length === size ? size - 1 : top.length;
    while (at > 0 && top[at - 1].leaseMs < leaseMs) at--;
    top.splice(at, 0, { tenantId, leaseMs });
    if (top.length > size) top.pop();
  }
  return top;
}
