import { Injectable } from '@nestjs/common';
import { withTimeout } from '@silo/core';
import { RedisConnection } from '@silo/queue';
import { DataSource } from 'typeorm';

/** How long each dependency may take to answer a readiness probe. */
export const PROBE_TIMEOUT_MS = 1500;

/** The dependencies /readyz asks, one call each; a call rejects with the driver's own error. */
@Injectable()
export class DependencyProbes {
  constructor(
    private readonly dataSource: DataSource,
    private readonly redisConnection: RedisConnection,
  ) {}

  async postgres(): Promise<void> {
    await withTimeout(this.dataSource.query('SELECT 1'), PROBE_TIMEOUT_MS);
  }

  async redis(): Promise<void> {
    await this.redisConnection.ping(PROBE_TIMEOUT_MS);
  }
}
