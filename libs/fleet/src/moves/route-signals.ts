import { tenantRouteChannel, type TenantRouteSignal } from '@silo/core';
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
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

/**
 * Sets or clears a tenant's writes pause (`tenants.writes_paused_at`: the data plane holds its
 * writes while it is set) and tells the data plane; true when it changed. The pause of a move's
 * cut-over, and of a restore's in place.
 */
export async function setWritesPaused(
  dataSource: DataSource,
  signals: RouteSignals,
  tenantId: string,
  paused: boolean,
): Promise<boolean> {
  const [rows] = await dataSource.query<[Array<{ route_version: number }>, number]>(
    `UPDATE tenants SET writes_paused_at = ${paused ? 'now()' : 'NULL'}, updated_at = now()
      WHERE id = $1 AND (writes_paused_at IS ${paused ? '' : 'NOT '}NULL) RETURNING route_version`,
    [tenantId],
  );
  const changed = rows.length > 0;
  const [current] = await dataSource.query<Array<{ route_version: number }>>(
    `SELECT route_version FROM tenants WHERE id = $1`,
    [tenantId],
  );
  if (current) await signals.publish({ tenantId, routeVersion: current.route_version, writesPaused: paused });
  return changed;
}
