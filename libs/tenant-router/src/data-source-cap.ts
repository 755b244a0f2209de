import { TimedWaiters } from './timed-waiters';

/**
 * Counts the DataSources the router caches (opening, open, draining or being destroyed) against
 * `maxDataSources`: a bound on memory, not on connections (the ConnectionGate bounds those). A
 * place is given back only once its DataSource is destroyed. Openings that do not fit wait in
 * FIFO order; for the first in line the cap asks the router to evict the least recently used
 * idle DataSource until what is about to close would make room. A retired DataSource that still
 * has a lease (rotation, a status change) may stay for as long as that work runs, so it does not
 * count as about to close: idle ones are evicted instead. Internal.
 */
export class DataSourceCap {
  /** DataSources holding a place. */
  dataSources = 0;
  private readonly queue = new TimedWaiters();

  constructor(
    private readonly maxDataSources: number,
    /** Retires the least recently used evictable DataSource; false when none can be. */
    private readonly evictOne: () => boolean,
    /** How many of the places are about to come back without anything else having to finish. */
    private readonly freeingSoon: () => number,
  ) {}

  get waiting(): number {
    return this.queue.length;
  }

  /** Resolves once a place is reserved; rejects with `onTimeout()` after `timeoutMs` in the queue. */
  reserve(timeoutMs: number, onTimeout: () => Error): Promise<void> {
    if (this.queue.length === 0 && this.fits(0)) {
      this.dataSources++;
      return Promise.resolve();
    }
    const reserved = this.queue.wait(timeoutMs, onTimeout);
    this.pump();
    return reserved;
  }

  /** The DataSource holding a place is gone (destroyed, or never initialised). */
  release(): void {
    this.dataSources--;
    this.pump();
  }

  /** Serves waiters in order while they fit; evicts for the first one when room is short. */
  pump(): void {
    while (this.queue.length > 0) {
      if (this.fits(0)) {
        this.dataSources++;
        this.queue.wakeFirst();
        continue;
      }
      while (!this.fits(this.freeingSoon()) && this.evictOne());
      return;
    }
  }

  /** Fails every waiter (the router is closing). */
  rejectAll(error: Error): void {
    this.queue.rejectAll(error);
  }

  private fits(freed: number): boolean {
    return this.dataSources - freed + 1 <= this.maxDataSources;
  }
}
