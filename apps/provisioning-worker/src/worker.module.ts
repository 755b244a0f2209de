import { DynamicModule, Module } from '@nestjs/common';
import { SiloConfig, SiloConfigModule } from '@silo/config';
import { ControlPlaneDbModule } from '@silo/control-plane-db';
import { SiloLoggerModule } from '@silo/observability';
import { FleetModule } from '@silo/fleet';
import { OutboxRelay, ProvisioningQueue, ProvisioningQueueStats, QueueConnectionModule } from '@silo/queue';
import { ProvisioningWorkerService } from './provisioning-worker.service';
import { QueueDepthPublisher } from './queue-depth-publisher.service';
import { WorkerReadinessService } from './worker-readiness.service';

export const WORKER_APP_NAME = 'silo-worker';

/**
 * The worker's control-plane pool: at least two connections per job slot (a saga or migration
 * pass holds its tenant lock on one and works on another) and two for the outbox relay and the
 * reconciler, whatever DATABASE_POOL_MAX says; fewer lets passes starve each other.
 */
export function workerPoolMax(config: SiloConfig): number {
  return Math.max(config.database.poolMax, 2 * config.worker.concurrency + 2);
}

@Module({})
export class WorkerModule {
  static register(config: SiloConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        SiloConfigModule.forRoot(config),
        SiloLoggerModule.forApp(WORKER_APP_NAME),
        ControlPlaneDbModule.forApp(WORKER_APP_NAME, { poolMax: workerPoolMax }),
        QueueConnectionModule,
        FleetModule,
      ],
      providers: [
        WorkerReadinessService,
        ProvisioningWorkerService,
        ProvisioningQueue,
        ProvisioningQueueStats,
        OutboxRelay,
        QueueDepthPublisher,
      ],
    };
  }
}
