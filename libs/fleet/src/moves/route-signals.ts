import { tenantRouteChannel, type TenantRouteSignal } from '@silo/core';
import type { Redis } from 'ioredis';
import type { SagaLog } from '../store/provisioning-store';

/** Tells every data-plane replica that a tenant's route changed (a hint: they look it up). */
export interface RouteSignals {
  publish(signal: TenantRouteSignal): Promise<void>;
}

export const ROUTE_SIGNALS = Symbol('ROUTE_SIGNALS');

/**
 * Route signals on Redis pub/sub (`<prefix>:tenant-routes`). Publishing never fails a saga: a
 * replica that misses a signal learns the same from its next directory lookup (the status TTL),
 * and the source refuses a moved tenant's writes whatever a replica believes.
 */
export class RedisRouteSignals implements RouteSignals {
  private readonly channel: string;

  constructor(
    private readonly redis: Pick<Redis, 'publish'>,
    resourcePrefix: string,
    private readonly log?: SagaLog,
  ) {
    this.channel = tenantRouteChannel(resourcePrefix);
  }

  async publish(signal: TenantRouteSignal): Promise<void> {
    try {
      await this.redis.publish(this.channel, JSON.stringify(signal));
    } catch (error) {
      this.log?.warn(
        { tenantId: signal.tenantId, err: (error as Error).message },
        'route signal not published; replicas learn of the change at their next directory lookup',
      );
    }
  }
}
