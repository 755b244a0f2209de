import type { DataSource } from 'typeorm';
import { ConnectionBudget, type ConnectionBudgetLimits, type FreeingSoon } from './connection-budget';
import { poolBusy, poolConnections } from './tenant-data-source';
import type { TenantRouterLog } from './tenant-router.types';
import { SlotList, TenantSlot } from './tenant-slot';

const DRAIN_POLL_MS = 25;

/**
 * Every tenant DataSource the router holds, from reservation to destroy(): the connection
 * budget, the LRU order, leases, and the rule that a DataSource is destroyed only when it has
 * no lease, its pg pool has nothing checked out or queued, and its getDataSource grace is over.
 * Knows nothing of tenants' status or secrets. Internal to the router.
 */
export class DataSourceRegistry {
  leases = 0;
  evictions = 0;
  idleClosed = 0;
  /** Handed-out DataSources, least recently used first. */
  private readonly lru = new SlotList();
  /** Every DataSource not yet destroyed. */
  private readonly live = new Set<TenantSlot>();
  /** Retired DataSources waiting for their work to finish. */
  private readonly draining = new Set<TenantSlot>();
  private readonly destroys = new Set<Promise<void>>();
  private readonly budget: ConnectionBudget;
  private drainTimer: NodeJS.Timeout | undefined;

  constructor(
    limits: ConnectionBudgetLimits,
    private readonly now: () => number,
    private readonly log: TenantRouterLog,
    /** Told when a DataSource stops being handed out (evicted, idled out, retired by the router). */
    private readonly onRetire: (slot: TenantSlot) => void,
  ) {
    this.budget = new ConnectionBudget(
      limits,
      () => this.evictOne(),
      () => this.freeingSoon(),
    );
  }

  get open(): number {
    return this.live.size;
  }

  get openConnections(): number {
    let total = 0;
    for (const slot of this.live) total += poolConnections(slot.dataSource);
    return total;
  }

  get reservedConnections(): number {
    return this.budget.connections;
  }

  get waiting(): number {
    return this.budget.waiting;
  }

  /** Room for one DataSource of `poolSize`; see ConnectionBudget.reserve. */
  reserve(poolSize: number, timeoutMs: number, onTimeout: () => Error): Promise<void> {
    return this.budget.reserve(poolSize, timeoutMs, onTimeout);
  }

  /** Gives back a reservation whose DataSource never opened. */
  unreserve(poolSize: number): void {
    this.budget.release(poolSize);
  }

  /** Registers an initialised DataSource (its room reserved) as the most recently used. */
  add(tenantId: string, dataSource: DataSource, poolSize: number): TenantSlot {
    const slot = new TenantSlot(tenantId, dataSource, poolSize, this.now());
    this.live.add(slot);
    this.lru.append(slot);
    return slot;
  }

  lease(slot: TenantSlot, now: number): void {
    slot.leases++;
    this.leases++;
    slot.lastUsedAt = now;
    this.lru.touch(slot);
  }

  release(slot: TenantSlot): void {
    slot.leases--;
    this.leases--;
    if (slot.retired) {
      if (slot.leases === 0) this.tryDestroy(slot);
      return;
    }
    slot.lastUsedAt = this.now();
    this.lru.touch(slot);
    if (slot.leases === 0 && this.budget.waiting > 0) this.budget.pump();
  }

  /** Marks the slot used without a lease, protected from closing for `graceMs`. */
  handOut(slot: TenantSlot, now: number, graceMs: number): void {
    slot.lastUsedAt = now;
    slot.protectedUntil = Math.max(slot.protectedUntil, now + graceMs);
    this.lru.touch(slot);
  }

  /** Stops handing the DataSource out; it is destroyed once its work is done. */
  retire(slot: TenantSlot): void {
    if (slot.retired) return;
    slot.retired = true;
    this.lru.remove(slot);
    this.onRetire(slot);
    this.draining.add(slot);
    this.tryDestroy(slot);
  }

  /** Retires the DataSources unused for `idleTimeoutMs` and idle now; returns how many. */
  closeIdle(idleTimeoutMs: number): number {
    const now = this.now();
    let closed = 0;
    for (let slot = this.lru.head, next; slot !== undefined; slot = next) {
      next = slot.next;
      // Least recently used first: the first one used recently ends the scan.
      if (now - slot.lastUsedAt < idleTimeoutMs) break;
      if (!this.evictable(slot, now)) continue;
      this.idleClosed++;
      this.retire(slot);
      closed++;
    }
    return closed;
  }

  /**
   * Fails the openings waiting for room, retires every DataSource and destroys each once drained,
   * or all that remain after `timeoutMs` (logged: their work is cut off).
   */
  async closeAll(timeoutMs: number, closedError: Error): Promise<void> {
    this.budget.rejectAll(closedError);
    for (let slot = this.lru.head; slot !== undefined; slot = this.lru.head) this.retire(slot);
    for (const slot of this.draining) slot.protectedUntil = 0;
    await new Promise<void>((resolve) => {
      const deadline = setTimeout(resolve, timeoutMs);
      const check = (): void => {
        for (const slot of this.draining) this.tryDestroy(slot);
        if (this.draining.size === 0) {
          clearTimeout(deadline);
          resolve();
        } else setTimeout(check, DRAIN_POLL_MS).unref();
      };
      check();
    });
    for (const slot of this.draining) {
      this.log.warn(
        { tenantId: slot.tenantId, leases: slot.leases },
        'destroying a tenant DataSource still in use: the close deadline passed',
      );
      this.destroy(slot);
    }
    await Promise.allSettled([...this.destroys]);
    if (this.drainTimer !== undefined) clearTimeout(this.drainTimer);
  }

  /** Destroys a DataSource the registry does not hold (never throws; failures are logged). */
  async destroyDataSource(tenantId: string, dataSource: DataSource): Promise<void> {
    try {
      if (dataSource.isInitialized) await dataSource.destroy();
    } catch (error) {
      this.log.warn({ tenantId, err: error }, 'tenant DataSource did not close cleanly');
    }
  }

  /**
   * For the budget: reservations that come back once a destroy() under way finishes or a retired
   * DataSource with no lease drains (a query, a getDataSource grace). Retired ones still leased
   * are left out: their work may run for long.
   */
  private freeingSoon(): FreeingSoon {
    let dataSources = 0;
    let connections = 0;
    for (const slot of this.live) {
      // Destroying, or retired (draining) with no lease left.
      if (!slot.destroying && !(slot.retired && slot.leases === 0)) continue;
      dataSources++;
      connections += slot.poolSize;
    }
    return { dataSources, connections };
  }

  private evictable(slot: TenantSlot, now: number): boolean {
    return slot.leases === 0 && now >= slot.protectedUntil && !poolBusy(slot.dataSource);
  }

  /** For the budget: retires the least recently used evictable DataSource, if any. */
  private evictOne(): boolean {
    const now = this.now();
    for (let slot = this.lru.head; slot !== undefined; slot = slot.next) {
      if (!this.evictable(slot, now)) continue;
      this.evictions++;
      this.log.debug?.({ tenantId: slot.tenantId }, 'closing the least recently used tenant DataSource');
      this.retire(slot);
      return true;
    }
    // Busy ones may turn idle without a lease being released (getDataSource): look again soon.
    this.scheduleDrainCheck();
    return false;
  }

  private tryDestroy(slot: TenantSlot): void {
    if (slot.destroying || slot.leases > 0) return;
    if (this.now() < slot.protectedUntil || poolBusy(slot.dataSource)) {
      this.scheduleDrainCheck();
      return;
    }
    this.destroy(slot);
  }

  private destroy(slot: TenantSlot): void {
    if (slot.destroying) return;
    slot.destroying = true;
    this.draining.delete(slot);
    const done = this.destroyDataSource(slot.tenantId, slot.dataSource).finally(() => {
      this.destroys.delete(done);
      this.live.delete(slot);
      this.budget.release(slot.poolSize);
    });
    this.destroys.add(done);
  }

  /** Polls while DataSources wait on busy pools or graces, or openings wait for room. */
  private scheduleDrainCheck(): void {
    if (this.drainTimer !== undefined) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = undefined;
      for (const slot of this.draining) this.tryDestroy(slot);
      if (this.budget.waiting > 0) this.budget.pump();
    }, DRAIN_POLL_MS);
    this.drainTimer.unref();
  }
}
