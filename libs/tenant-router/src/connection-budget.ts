interface Waiter {
  connections: number;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export interface ConnectionBudgetLimits {
  maxDataSources: number;
  connectionBudget: number;
}

/** Reservations on their way back: DataSources being destroyed, or retired with no lease left. */
export interface FreeingSoon {
  dataSources: number;
  connections: number;
}

/**
 * Counts what open and opening DataSources hold (one DataSource, `poolSize` connections each)
 * against the router's limits. A reservation is returned only once its DataSource is destroyed,
 * so the limits hold for real connections, not just for the ones the router still hands out.
 * Openings that do not fit wait in FIFO order; for the first in line the budget asks the router
 * to evict idle DataSources until what is about to close would make room. A retired DataSource
 * that still has a lease (rotation, a status change) may stay for as long as that work runs, so
 * it does not count as about to close: idle ones are evicted instead. Internal.
 */
export class ConnectionBudget {
  /** DataSources reserved (opening, open, draining or being destroyed). */
  dataSources = 0;
  /** Sum of their pool sizes. */
  connections = 0;
  private readonly queue: Waiter[] = [];

  constructor(
    private readonly limits: ConnectionBudgetLimits,
    /** Retires the least recently used evictable DataSource; false when none can be. */
    private readonly evictOne: () => boolean,
    /** What of the reservations is about to come back without anything else having to finish. */
    private readonly freeingSoon: () => FreeingSoon,
  ) {}

  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Resolves once `connections` (and one DataSource) are reserved; rejects with `onTimeout()`
   * after `timeoutMs` in the queue.
   */
  reserve(connections: number, timeoutMs: number, onTimeout: () => Error): Promise<void> {
    if (this.queue.length === 0 && this.fits(connections, 0, 0)) {
      this.take(connections);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        connections,
        resolve,
        reject,
        timer: setTimeout(() => {
          const at = this.queue.indexOf(waiter);
          if (at < 0) return;
          this.queue.splice(at, 1);
          reject(onTimeout());
          // The one that timed out may have been blocking smaller requests behind it.
          this.pump();
        }, timeoutMs),
      };
      this.queue.push(waiter);
      this.pump();
    });
  }

  /** The DataSource holding `connections` is gone (destroyed, or never initialised). */
  release(connections: number): void {
    this.dataSources--;
    this.connections -= connections;
    this.pump();
  }

  /** Serves waiters in order while they fit; evicts for the first one when room is short. */
  pump(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0];
      if (this.fits(head.connections, 0, 0)) {
        this.queue.shift();
        clearTimeout(head.timer);
        this.take(head.connections);
        head.resolve();
        continue;
      }
      for (
        let soon = this.freeingSoon();
        !this.fits(head.connections, soon.dataSources, soon.connections) && this.evictOne();
        soon = this.freeingSoon()
      );
      return;
    }
  }

  /** Fails every waiter (the router is closing). */
  rejectAll(error: Error): void {
    for (const waiter of this.queue.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
  }

  private fits(connections: number, freedDataSources: number, freedConnections: number): boolean {
    return (
      this.dataSources - freedDataSources + 1 <= this.limits.maxDataSources &&
      this.connections - freedConnections + connections <= this.limits.connectionBudget
    );
  }

  private take(connections: number): void {
    this.dataSources++;
    this.connections += connections;
  }
}
