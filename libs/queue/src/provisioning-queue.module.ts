import { Module } from '@nestjs/common';
import { ProvisioningQueue } from './job-queue';
import { ProvisioningQueueStats } from './provisioning-queue-stats';

/**
 * The `provisioning` queue's producer and its stats, one instance per app whichever modules
 * import it. Needs the (global) QueueConnectionModule and configuration.
 */
@Module({
  providers: [ProvisioningQueue, ProvisioningQueueStats],
  exports: [ProvisioningQueue, ProvisioningQueueStats],
})
export class ProvisioningQueueModule {}
