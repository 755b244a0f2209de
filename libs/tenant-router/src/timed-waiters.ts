interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A FIFO of callers waiting for something, each for at most its own timeout: the queue behind
 * the connection gate, the DataSource cap and a tenant's fair share. Internal.
 */
export class TimedWaiters {
  private readonly queue: Waiter[] = [];

  get length(): number {
    return this.queue.length;
  }

  /**
   * Queues a caller (synchronously: `length` counts it on return); resolves when `wakeFirst()`
   * reaches it, rejects with `onTimeout()` once `timeoutMs` have passed in the queue.
   */
  wait(timeoutMs: number, onTimeout: () => Error): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const at = this.queue.indexOf(waiter);
          if (at < 0) return;
          this.queue.splice(at, 1);
          reject(onTimeout());
        }, timeoutMs),
      };
      this.queue.push(waiter);
    });
  }

  /** Resolves the first waiter; false when nobody waits. */
  wakeFirst(): boolean {
    const first = this.queue.shift();
    if (first === undefined) return false;
    clearTimeout(first.timer);
    first.resolve();
    return true;
  }

  /** Fails every waiter (the router is closing). */
  rejectAll(error: Error): void {
    for (const waiter of this.queue.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
  }
}
