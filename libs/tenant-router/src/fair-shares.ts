import type { TierName } from '@silo/core/tenant/tier';

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
  /** Leases given past the tier's cap because nothing waited for the budget (counted in `leases` too). */
  borrowed: number;
  waits: number;
  rejections: number;
}

/**
 * Fair shares between tenants, work-conserving: a tenant's tier guarantees it `maxLeases`
 * concurrent leases, and past them it borrows whatever the process has spare, so a tenant is
 * never held up while nobody else waits. The cap binds only while the budget is contended
 * (`contended()`: a connection waits for a place under the connection budget, or an opening for
 * room under the DataSource cap). Then a caller past its cap waits (FIFO, at most `maxWaiters` of
 * them, for up to `waitMs`) for one of its tenant's leases; past that it is refused, and the
 * router turns the refusal into TENANT_BUSY (429 with Retry-After). A released lease goes to the
 * first waiter while the tenant is under its cap or nothing is contended; a borrowed one released
 * under contention is not lent again, so the tenant shrinks back to its share. Internal.
 */
export class FairShares {
  readonly counts: Record<TierName, ShareCounts> = {
    starter: { leases: 0, borrowed: 0, waits: 0, rejections: 0 },
    pro: { leases: 0, borrowed: 0, waits: 0, rejections: 0 },
    enterprise: { leases: 0, borrowed: 0, waits: 0, rejections: 0 },
  };

  constructor(
    private readonly limits: Record<TierName, ShareLimits>,
    private readonly waitMs: number,
    /** True while something waits for the connection budget or for room for a DataSource. */
    private readonly contended: () => boolean,
  ) {}

  /**
   * Takes a lease place now when nobody of the tenant is waiting and the tenant is under its cap
   * or the budget is not contended. No awaits.
   */
  tryTake(share: TenantShare, tier: TierName): boolean {
    if (share.waiters !== undefined && share.waiters.length > 0) return false;
    if (share.active >= this.limits[tier].maxLeases && this.contended()) return false;
    this.count(share, tier);
    return true;
  }

  /** A lease place, now or after waiting; rejects with `busy()` when the tenant is over its share. */
  take(share: TenantShare, tier: TierName, busy: (retryAfterMs: number) => Error): Promise<void> {
    if (this.tryTake(share, tier)) return Promise.resolve();
    const waiters = (share.waiters ??= new TimedWaiters());
    // Waiters left from a contention that has ended go first, then this caller.
    this.admit(share, tier);
    if (this.tryTake(share, tier)) return Promise.resolve();
    const counts = this.counts[tier];
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
    share.active--;
    if (share.waiters !== undefined && share.waiters.length > 0) this.admit(share, tier);
  }

  /** Fails every waiter of `share` (the router is closing). */
  rejectAll(share: TenantShare, error: Error): void {
    share.waiters?.rejectAll(error);
  }

  /** Wakes the tenant's waiters, in order, while it is under its cap or nothing is contended. */
  private admit(share: TenantShare, tier: TierName): void {
    const waiters = share.waiters;
    if (waiters === undefined) return;
    const cap = this.limits[tier].maxLeases;
    while (waiters.length > 0 && (share.active < cap || !this.contended())) {
      this.count(share, tier);
      waiters.wakeFirst();
    }
  }

  private count(share: TenantShare, tier: TierName): void {
    const counts = this.counts[tier];
    counts.leases++;
    if (++share.active > this.limits[tier].maxLeases) counts.borrowed++;
  }
}
