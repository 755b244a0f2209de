import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { SiloConfig } from '@silo/config';
import { withTimeout } from '@silo/core';
import IORedis, { type Redis } from 'ioredis';

/**
 * The process's Redis connection for everything that is not a BullMQ worker (probes, queue
 * producers). Commands fail fast while Redis is down instead of queueing in memory, so a
 * readiness probe answers promptly.
 */
@Injectable()
export class RedisConnection implements OnApplicationShutdown {
  readonly client: Redis;

  constructor(config: SiloConfig) {
    this.client = new IORedis(config.redis.url, {
      lazyConnect: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      // Reconnect forever with a capped delay: Redis coming back must heal the process.
      retryStrategy: (times) => Math.min(200 * times, 2000),
      connectionName: `silo-${config.resources.environment}`,
    });
    // ioredis emits 'error' on every failed reconnect; the probes report the state instead.
    this.client.on('error', () => undefined);
  }

  /** Resolves with PONG or rejects within `timeoutMs`. */
  async ping(timeoutMs = 1500): Promise<void> {
    await withTimeout(this.client.ping(), timeoutMs);
  }

  onApplicationShutdown(): void {
    this.client.disconnect();
  }
}
