import type { Placement } from '@silo/core/provisioning/tenant-resource-names';
import type { DataSource } from 'typeorm';
import type { TargetLabel } from './data-source-target';
import { ConnectionGate } from './connection-gate';
import { DataSourceCap } from './data-source-cap';
import {
  closeOneIdleClient,
  growPoolOnlyWhen,
  onPoolRelease,
  poolBusy,
  poolIdleConnections,
} from './tenant-data-source';
import type { TenantRouterLog } from './tenant-router.types';
import { SlotList, TenantSlot } from './tenant-slot';

const DRAIN_POLL_MS = 25;
/** Uses are halved after this many uses per place in the connection budget (TinyLFU's reset). */
const USES_PER_EPOCH_PER_CONNECTION = 10;

/**
 * Every DataSource the router caches (tenants' own and pool hosts' shared ones alike), from reservation to destroy(): the cap on cached
 * DataSources and its LRU eviction, the connection gate (the budget on live connections, with
 * idle connections of the least frequently used pools closed first to make room), leases, and the
 * rule that a DataSource is destroyed only when it has no lease, its pg pool has nothing checked
 * out or queued, and its getDataSource grace is over. Knows nothing of tenants' status or
 * secrets. Internal to the router.
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
  private readonly cap: DataSourceCap;
  /** The budget on live connections; every tenant pool's connections pass it. */
  readonly gate: ConnectionGate;
  private gatePumpQueued = false;
  private drainTimer: NodeJS.Timeout | undefined;
  /** Uses of every slot; each `usesPerEpoch` of them start an epoch that halves older counts. */
  private uses = 0;
  private epoch = 0;
  private readonly usesPerEpoch: number;
  private readonly growthHoldMs: number;

  constructor(
    limits: {
      maxDataSources: number;
      connectionBudget: number;
      /** How long a query may wait on its tenant's one connection, the budget spent, before the pool grows anyway. */
      growthHoldMs: number;
    },
    private readonly now: () => number,
    private readonly log: TenantRouterLog,
    /** Told when a DataSource stops being handed out (evicted, idled out, retired by the router). */
    private readonly onRetire: (slot: TenantSlot) => void,
  ) {
    this.cap = new DataSourceCap(
      limits.maxDataSources,
      () => this.evictOne(),
      () => this.freeingSoon(),
    );
    this.gate = new ConnectionGate(limits.connectionBudget, () => this.shedOneIdleConnection());
    this.usesPerEpoch = USES_PER_EPOCH_PER_CONNECTION * limits.connectionBudget;
    this.growthHoldMs = limits.growthHoldMs;
  }

  get open(): number {
    return this.live.size;
  }

  get waiting(): number {
    return this.cap.waiting;
  }

  /** Room for one more cached DataSource; see DataSourceCap.reserve. */
  reserve(timeoutMs: number, onTimeout: () => Error): Promise<void> {
    return this.cap.reserve(timeoutMs, onTimeout);
  }

  /** Gives back a reservation whose DataSource never opened. */
  unreserve(): void {
    this.cap.release();
  }

  /** Registers an initialised DataSource (its room reserved) as the most recently used. */
  add(
    key: string,
    label: TargetLabel,
    placement: Placement,
    dataSource: DataSource,
    poolSize: number,
  ): TenantSlot {
    const slot = new TenantSlot(key, label, placement, dataSource, poolSize, this.now());
    this.live.add(slot);
    this.lru.append(slot);
    // A connection turning idle can be closed for an opening waiting at the gate.
    onPoolRelease(dataSource, () => this.pumpGateSoon());
    growPoolOnlyWhen(dataSource, () => this.gate.hasRoom(), this.growthHoldMs, this.now);
    return slot;
  }

  lease(slot: TenantSlot, now: number): void {
    slot.leases++;
    this.leases++;
    slot.lastUsedAt = now;
    this.lru.touch(slot);
    this.countUse(slot);
  }

  release(slot: TenantSlot, now = this.now()): void {
    slot.leases--;
    this.leases--;
    if (slot.retired) {
      if (slot.leases === 0) this.tryDestroy(slot);
      return;
    }
    slot.lastUsedAt = now;
    this.lru.touch(slot);
    if (slot.leases === 0 && this.cap.waiting > 0) this.cap.pump();
  }

  /** Marks the slot used without a lease, protected from closing for `graceMs`. */
  handOut(slot: TenantSlot, now: number, graceMs: number): void {
    slot.lastUsedAt = now;
    slot.protectedUntil = Math.max(slot.protectedUntil, now + graceMs);
    this.lru.touch(slot);
    this.countUse(slot);
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
    this.cap.rejectAll(closedError);
    this.gate.rejectAll(closedError);
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
        { ...slot.label, leases: slot.leases },
        'destroying a tenant DataSource still in use: the close deadline passed',
      );
      this.destroy(slot);
    }
    await Promise.allSettled([...this.destroys]);
    // pg emits a client's 'end' (which gives its place in the gate back) on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.drainTimer !== undefined) clearTimeout(this.drainTimer);
  }

  /** Destroys a DataSource the registry does not hold (never throws; failures are logged). */
  async destroyDataSource(label: TargetLabel, dataSource: DataSource): Promise<void> {
    try {
      if (dataSource.isInitialized) await dataSource.destroy();
    } catch (error) {
      this.log.warn({ ...label, err: error }, 'tenant DataSource did not close cleanly');
    }
  }

  /**
   * For the cap: places that come back once a destroy() under way finishes or a retired
   * DataSource with no lease drains (a query, a getDataSource grace). Retired ones still leased
   * are left out: their work may run for long.
   */
  private freeingSoon(): number {
    let dataSources = 0;
    // Destroying, or retired (draining) with no lease left.
    for (const slot of this.draining) if (slot.leases === 0) dataSources++;
    for (const slot of this.live) if (slot.destroying) dataSources++;
    return dataSources;
  }

  /**
   * For the gate: closes one idle pooled connection, of a retired DataSource first, else of the
   * open one used least often lately (the least recently used of those used equally often). A
   * tenant seen once keeps its connection only until a place is needed, while tenants in steady
   * use keep theirs: under a long tail of tenants (a Zipf workload) this closes a fifth fewer
   * connections than plain LRU, each of which would be opened again. Its place comes back when it
   * has ended.
   */
  private shedOneIdleConnection(): boolean {
    for (const slot of this.draining) if (closeOneIdleClient(slot.dataSource)) return true;
    let least: TenantSlot | undefined;
    let leastUses = Infinity;
    for (let slot = this.lru.head; slot !== undefined; slot = slot.next) {
      const uses = this.usesOf(slot);
      if (uses < leastUses && poolIdleConnections(slot.dataSource) > 0) {
        least = slot;
        leastUses = uses;
        if (uses === 0) break;
      }
    }
    return least !== undefined && closeOneIdleClient(least.dataSource);
  }

  /** One more use of the slot, in the current epoch; every `usesPerEpoch` uses start the next. */
  private countUse(slot: TenantSlot): void {
    slot.uses = this.usesOf(slot) + 1;
    slot.usesEpoch = this.epoch;
    if (++this.uses >= this.usesPerEpoch) {
      this.uses = 0;
      this.epoch++;
    }
  }

  /** The slot's uses, halved once for every epoch begun since it was last used. */
  private usesOf(slot: TenantSlot): number {
    const age = this.epoch - slot.usesEpoch;
    return age === 0 ? slot.uses : age > 30 ? 0 : slot.uses >>> age;
  }

  /** After a pool's release event: by then the client is idle (or taken by its own pool's queue). */
  private pumpGateSoon(): void {
    if (this.gate.waiting === 0 || this.gatePumpQueued) return;
    this.gatePumpQueued = true;
    setImmediate(() => {
      this.gatePumpQueued = false;
      this.gate.pump();
    });
  }

  private evictable(slot: TenantSlot, now: number): boolean {
    return slot.leases === 0 && now >= slot.protectedUntil && !poolBusy(slot.dataSource);
  }

  /** For the cap: retires the least recently used evictable DataSource, if any. */
  private evictOne(): boolean {
    const now = this.now();
    for (let slot = this.lru.head; slot !== undefined; slot = slot.next) {
      if (!this.evictable(slot, now)) continue;
      this.evictions++;
      this.log.debug?.({ ...slot.label }, 'closing the least recently used tenant DataSource');
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
    const done = this.destroyDataSource(slot.label, slot.dataSource).finally(() => {
      this.destroys.delete(done);
      this.live.delete(slot);
      this.cap.release();
    });
    this.destroys.add(done);
  }

  /** Polls while DataSources wait on busy pools or graces, or openings wait for room. */
  private scheduleDrainCheck(): void {
    if (this.drainTimer !== undefined) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = undefined;
      for (const slot of this.draining) this.tryDestroy(slot);
      if (this.cap.waiting > 0) this.cap.pump();
      if (this.gate.waiting > 0) this.gate.pump();
    }, DRAIN_POLL_MS);
    this.drainTimer.unref();
  }
}
