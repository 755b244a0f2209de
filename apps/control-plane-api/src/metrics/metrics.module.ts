import { Module } from '@nestjs/common';
import { ProvisioningQueueModule } from '@silo/queue';
import { Registry } from 'prom-client';
import { ControlPlaneStats } from './control-plane-stats.service';
import { controlPlaneRegistry } from './control-plane-metrics';
import { MetricsController } from './metrics.controller';
import { MetricsSnapshots } from './metrics-snapshots.service';

/** `GET /metrics`: a registry of this app's own, never prom-client's global one. */
@Module({
  imports: [ProvisioningQueueModule],
  controllers: [MetricsController],
  providers: [
    ControlPlaneStats,
    MetricsSnapshots,
    {
      provide: Registry,
      inject: [MetricsSnapshots],
      useFactory: (snapshots: MetricsSnapshots) => controlPlaneRegistry(() => snapshots.current()),
    },
  ],
})
export class MetricsModule {}
