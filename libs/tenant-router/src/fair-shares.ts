import type { TierName } from '@silo/core';

import { TimedWaiters } from './timed-waiters';

/** One tenant's concurrent leases and the callers waiting for one. */
export class TenantShare {
  /** Leases held now. */
  active = 0;
  /** FIFO; undefined until someone first waits (the warm path allocates nothing). */
  waiters: TimedWaiters | undefined = undefined;
  /** Lease time held in all, ms, and how much of it the last top-tenants reading saw. */
  leaseMs = 0;
  leaseMsRead = 0;

  get idle(): boolean {
    return this.active === 0 && (this.waiters === undefined || this.waiters.length === 0);
  }
}

/** A tier's limits; Infinity for no limit. */
export interface ShareLimits {
  maxLeases: number;
  maxWaiters: number;
}

/** What the limits did, per tier (counters since start). */
export interface ShareCounts {
  leases: number;
  waits: number;
  rejections: number;
}

/**
 * Fair shares between tenants: at most `maxLeases` concurrent leases per tenant, by tier, so one
 * tenant's spike holds no more than its share of the process's connections and CPU while the
 * others keep their latency. A caller past the cap waits (FIFO, at most `maxWaiters` of them,
 * for up to `waitMs`) for one of that tenant's leases to be released; past that it is refused,
 * and the router turns the refusal into TENANT_BUSY (429 with Retry-After). A released lease goes
 * straight to the first waiter. Internal.
 */
export class FairShares {
  readonly counts: Record<TierName, ShareCounts> = {
    starter: { leases: 0, waits: 0, rejections: 0 },
    pro: { leases: 0, waits: 0, rejections: 0 },
    enterprise: { leases: 0, waits: 0, rejections: 0 },
  };

  constructor(
    private readonly limits: Record<TierName, ShareLimits>,
    private readonly waitMs: number,
  ) {}

  /** Takes a lease place now when the tenant is under its cap and nobody is waiting. No awaits. */
  tryTake(share: TenantShare, tier: TierName): boolean {
    if (
      share.active >= this.limits[tier].maxLeases ||
      (share.waiters !== undefined && share.waiters.length > 0)
    )
      return false;
    share.active++;
    this.counts[tier].leases++;
    return true;
  }

  /** A lease place, now or after waiting; rejects with `busy()` when the tenant is over its share. */
  take(share: TenantShare, tier: TierName, busy: (retryAfterMs: number) => Error): Promise<void> {
    if (this.tryTake(share, tier)) return Promise.resolve();
    const counts = this.counts[tier];
    const waiters = (share.waiters ??= new TimedWaiters());
    if (waiters.length >= this.limits[tier].maxWaiters) {
      counts.rejections++;
      return Promise.reject(busy(this.waitMs));
    }
    counts.waits++;
    return waiters.wait(this.waitMs, () => {
      counts.rejections++;
      return busy(this.waitMs);
    });
  }

  /** A lease was released: its place goes to the first waiter, or back to the tenant's share. */
  give(share: TenantShare, tier: TierName): void {
    if (share.waiters?.wakeFirst()) this.counts[tier].leases++;
    else share.active--;
  }

  /** Fails every waiter of `share` (the router is closing). */
  rejectAll(share: TenantShare, error: Error): void {
    share.waiters?.rejectAll(error);
  }
}
