import type { Server } from 'node:http';
import IORedis from 'ioredis';
import { Client } from 'pg';

export interface CallCounts {
  /** `pg` Client#query calls: TypeORM's statements, BEGIN and COMMIT included. */
  pgQueries: number;
  /** ioredis sendCommand calls: the rate limiter's script, and anything else on any connection. */
  redisCommands: number;
}

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

/**
 * Counts every PostgreSQL query and Redis command this process sends, by wrapping the client
 * prototypes that TypeORM, BullMQ and the rate limiter all go through. One increment per call:
 * the rows measure the same code with and without the wrapper to within noise.
 */
export class CallCounters {
  private readonly counts: CallCounts = { pgQueries: 0, redisCommands: 0 };
  private readonly restore: (() => void)[] = [];

  install(): void {
    this.wrap(Client.prototype as unknown as Record<string, AnyFunction>, 'query', 'pgQueries');
    this.wrap(IORedis.prototype as unknown as Record<string, AnyFunction>, 'sendCommand', 'redisCommands');
  }

  uninstall(): void {
    for (const undo of this.restore.splice(0)) undo();
  }

  snapshot(): CallCounts {
    return { ...this.counts };
  }

  private wrap(target: Record<string, AnyFunction>, method: string, counter: keyof CallCounts): void {
    const original = target[method];
    const counts = this.counts;
    target[method] = function (this: unknown, ...args: unknown[]) {
      counts[counter]++;
      return original.apply(this, args);
    };
    this.restore.push(() => {
      target[method] = original;
    });
  }
}

/** Requests an HTTP server has received, counted on its 'request' event. */
export class ServedRequests {
  private count = 0;

  constructor(server: Server) {
    server.on('request', () => {
      this.count++;
    });
  }

  get value(): number {
    return this.count;
  }
}
