import type { Placement } from '@silo/core/provisioning/tenant-resource-names';
import type { DataSource } from 'typeorm';
import type { TargetLabel } from './data-source-target';

/**
 * One initialised DataSource as the router holds it: a tenant's own, or a pool host's, which
 * every pooled tenant of the host leases. Internal.
 */
export class TenantSlot {
  /** Leases not yet released (of every tenant it serves). */
  leases = 0;
  /** Clock time of the last acquire, release or getDataSource. */
  lastUsedAt: number;
  /** Not closed before this clock time (getDataSource hands it out without a lease). */
  protectedUntil = 0;
  /** No longer handed out; destroyed once drained. */
  retired = false;
  /** destroy() has been called. */
  destroying = false;
  /** Uses (leases, getDataSource calls) counted in `usesEpoch`, halved once per epoch since. */
  uses = 0;
  usesEpoch = 0;
  /** In the router's LRU list. */
  linked = false;
  prev: TenantSlot | undefined = undefined;
  next: TenantSlot | undefined = undefined;

  constructor(
    /** Its target's key (`DataSourceTarget.key`). */
    readonly key: string,
    /** Log fields naming what it serves. */
    readonly label: TargetLabel,
    /** The placement it serves: `pool` for a host's shared DataSource, else its tenant's. */
    readonly placement: Placement,
    readonly dataSource: DataSource,
    /** pg pool `max`: what the slot counts against the connection budget. */
    readonly poolSize: number,
    now: number,
  ) {
    this.lastUsedAt = now;
  }
}

/**
 * Open slots from least to most recently used: an intrusive doubly linked list, so a touch is a
 * few pointer writes and allocates nothing.
 */
export class SlotList {
  head: TenantSlot | undefined = undefined;
  tail: TenantSlot | undefined = undefined;

  append(slot: TenantSlot): void {
    if (slot.linked) return;
    slot.linked = true;
    slot.prev = this.tail;
    slot.next = undefined;
    if (this.tail) this.tail.next = slot;
    else this.head = slot;
    this.tail = slot;
  }

  remove(slot: TenantSlot): void {
    if (!slot.linked) return;
    slot.linked = false;
    if (slot.prev) slot.prev.next = slot.next;
    else this.head = slot.next;
    if (slot.next) slot.next.prev = slot.prev;
    else this.tail = slot.prev;
    slot.prev = slot.next = undefined;
  }

  /** Marks the slot most recently used; a no-op for the tail (the hot path for a busy tenant). */
  touch(slot: TenantSlot): void {
    if (this.tail === slot || !slot.linked) return;
    this.remove(slot);
    this.append(slot);
  }
}
