/** A tenant and the lease time it held in the recent window. */
export interface TenantLeaseTime {
  tenantId: string;
  leaseMs: number;
}

const CAPACITY = 64;

/**
 * The tenants that held leases longest recently, in bounded memory: a Space-Saving sketch of 64
 * counters over a window of `windowMs`, rolled over so the view follows the present (the window
 * before the current one is added in, so a fresh window is not empty). A tenant outside the
 * sketch that takes a counter inherits the smallest one's time, so a time may be overestimated
 * by at most that smallest counter, never underestimated for a tenant in the sketch; the heavy
 * hitters are the ones it keeps. Internal.
 */
export class LeaseTimeTop {
  private current = new Map<string, number>();
  private previous = new Map<string, number>();
  private windowEndsAt: number;

  constructor(
    private readonly windowMs: number,
    now: number,
  ) {
    this.windowEndsAt = now + windowMs;
  }

  add(tenantId: string, ms: number, now: number): void {
    if (now >= this.windowEndsAt) this.roll(now);
    const counters = this.current;
    const held = counters.get(tenantId);
    if (held !== undefined) {
      counters.set(tenantId, held + ms);
      return;
    }
    if (counters.size < CAPACITY) {
      counters.set(tenantId, ms);
      return;
    }
    let minId = '';
    let min = Infinity;
    for (const [id, value] of counters)
      if (value < min) {
        min = value;
        minId = id;
      }
    counters.delete(minId);
    counters.set(tenantId, min + ms);
  }

  /** The `n` tenants with the most lease time in this window and the one before, most first. */
  top(n: number, now: number): TenantLeaseTime[] {
    if (now >= this.windowEndsAt) this.roll(now);
    const sums = new Map(this.previous);
    for (const [id, ms] of this.current) sums.set(id, (sums.get(id) ?? 0) + ms);
    return [...sums]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([tenantId, leaseMs]) => ({ tenantId, leaseMs }));
  }

  private roll(now: number): void {
    // More than a whole window idle: the previous one is empty too.
    this.previous = now >= this.windowEndsAt + this.windowMs ? new Map<string, number>() : this.current;
    this.current = new Map();
    this.windowEndsAt = now + this.windowMs;
  }
}
