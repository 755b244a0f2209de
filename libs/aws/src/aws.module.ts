import { Module } from '@nestjs/common';
import { AwsClients } from './aws-clients';
import { FleetInventory } from './fleet-inventory.adapter';
import { QueueMetrics } from './queue-metrics.adapter';
import { RdsEngineVersions } from './rds-engine-versions.adapter';
import { RdsInstances } from './rds-instances.adapter';
import { TenantAlarms } from './tenant-alarms.adapter';
import { TenantExports } from './tenant-exports.adapter';
import { TenantSecrets } from './tenant-secrets.adapter';

@Module({
  providers: [
    AwsClients,
    RdsInstances,
    RdsEngineVersions,
    TenantSecrets,
    TenantAlarms,
    FleetInventory,
    QueueMetrics,
    TenantExports,
  ],
  exports: [
    AwsClients,
    RdsInstances,
    RdsEngineVersions,
    TenantSecrets,
    TenantAlarms,
    FleetInventory,
    QueueMetrics,
    TenantExports,
  ],
})
export class AwsModule {}
