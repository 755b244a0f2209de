import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { withTimeout } from '@silo/core';
import { RedisConnection } from '@silo/queue';
import { DataSource } from 'typeorm';

const PROBE_TIMEOUT_MS = 1500;
const MAX_DELAY_MS = 10_000;

/**
 * Logs `worker ready` once PostgreSQL and Redis both answer. Until then it logs, with growing
 * intervals, which of them does not, so an operator sees why the worker is idle.
 */
@Injectable()
export class WorkerReadinessService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WorkerReadinessService.name);
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readyOnce: Promise<void> | undefined;

  constructor(
    private readonly dataSource: DataSource,
    private readonly redis: RedisConnection,
  ) {}

  onApplicationBootstrap(): void {
    this.readyOnce = new Promise((resolve) => this.probe(1, resolve));
  }

  /** Resolves once the worker has been ready (for tests and later startup ordering). */
  whenReady(): Promise<void> {
    return this.readyOnce ?? Promise.reject(new Error('the worker has not been bootstrapped'));
  }

  async check(): Promise<Record<'postgres' | 'redis', string | null>> {
    const [postgres, redis] = await Promise.all([
      withTimeout(this.dataSource.query('SELECT 1'), PROBE_TIMEOUT_MS).then(
        () => null,
        (e: unknown) => describe(e),
      ),
      this.redis.ping(PROBE_TIMEOUT_MS).then(
        () => null,
        (e: unknown) => describe(e),
      ),
    ]);
    return { postgres, redis };
  }

  private probe(attempt: number, resolve: () => void): void {
    void this.check().then((problems) => {
      if (this.stopped) return;
      const failing = Object.entries(problems).filter(([, problem]) => problem !== null);
      if (failing.length === 0) {
        this.logger.log({ checks: { postgres: 'up', redis: 'up' } }, 'worker ready');
        resolve();
        return;
      }
      const delay = Math.min(500 * 2 ** (attempt - 1), MAX_DELAY_MS);
      this.logger.warn(
        { failing: Object.fromEntries(failing), attempt, retryInMs: delay },
        `worker not ready: ${failing.map(([name]) => name).join(', ')} did not answer`,
      );
      this.timer = setTimeout(() => this.probe(attempt + 1, resolve), delay);
    });
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
