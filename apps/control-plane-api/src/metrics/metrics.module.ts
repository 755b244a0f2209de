import { DynamicModule, Module } from '@nestjs/common';
import type { SiloConfig } from '@silo/config';
import { ProvisioningQueueModule } from '@silo/queue';
import { Registry } from 'prom-client';
import { ControlPlaneStats } from './control-plane-stats.service';
import { controlPlaneRegistry } from './control-plane-metrics';
import { MetricsController } from './metrics.controller';
import { MetricsListener } from './metrics-listener';
import { MetricsSnapshots } from './metrics-snapshots.service';

/**
 * `GET /metrics`, from a registry of this app's own, never prom-client's global one: on a
 * listener of its own when `METRICS_PORT` is set (no token; the API's port has no /metrics),
 * else on the API's port for `sre` and `admin` tokens.
 */
@Module({})
export class MetricsModule {
  static register(config: SiloConfig): DynamicModule {
    const ownPort = config.http.metricsPort !== undefined;
    return {
      module: MetricsModule,
      imports: [ProvisioningQueueModule],
      controllers: ownPort ? [] : [MetricsController],
      providers: [
        ControlPlaneStats,
        MetricsSnapshots,
        {
          provide: Registry,
          inject: [MetricsSnapshots],
          useFactory: (snapshots: MetricsSnapshots) => controlPlaneRegistry(() => snapshots.current()),
        },
        ...(ownPort ? [MetricsListener] : []),
      ],
    };
  }
}
