import { DynamicModule, Module } from '@nestjs/common';
import { SiloConfig, SiloConfigModule } from '@silo/config';
import { ControlPlaneDbModule } from '@silo/control-plane-db';
import { SiloLoggerModule } from '@silo/observability';
import { ProvisioningModule } from '@silo/provisioning';
import { OutboxRelay, ProvisioningQueue, QueueConnectionModule } from '@silo/queue';
import { ProvisioningWorkerService } from './provisioning-worker.service';
import { WorkerReadinessService } from './worker-readiness.service';

export const WORKER_APP_NAME = 'silo-worker';

@Module({})
export class WorkerModule {
  static register(config: SiloConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        SiloConfigModule.forRoot(config),
        SiloLoggerModule.forApp(WORKER_APP_NAME),
        ControlPlaneDbModule.forApp(WORKER_APP_NAME),
        QueueConnectionModule,
        ProvisioningModule,
      ],
      providers: [WorkerReadinessService, ProvisioningWorkerService, ProvisioningQueue, OutboxRelay],
    };
  }
}
