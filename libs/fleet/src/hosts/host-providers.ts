import type { Provider } from '@nestjs/common';
import { FleetInventory, RdsInstances, TenantAlarms, TenantSecrets } from '@silo/aws';
import { SiloConfig } from '@silo/config';
import { DataSource } from 'typeorm';
import { TENANT_DATABASE_HOST, type TenantDatabaseHost } from '../backends/tenant-database-host';
import { HostJobs } from '../jobs/host-jobs';
import { ProvisioningSettings } from '../saga/provisioning-settings';
import { TenantDatabaseAdmin } from '../tenant-database-admin';
import { HostAwsResources } from './host-aws-resources';
import { HostRetirement } from './host-retirement';
import { HostSaga } from './host-saga';
import { HostStepStore } from './host-step-store';
import { HostSweep } from './host-sweep';

/** The shared hosts' sagas, jobs, retirement and sweep, for FleetModule. */
export const HOST_PROVIDERS: Provider[] = [
  {
    provide: HostSaga,
    inject: [
      DataSource,
      RdsInstances,
      TenantSecrets,
      TenantAlarms,
      FleetInventory,
      TENANT_DATABASE_HOST,
      TenantDatabaseAdmin,
      ProvisioningSettings,
    ],
    useFactory: (
      dataSource: DataSource,
      rds: RdsInstances,
      secrets: TenantSecrets,
      alarms: TenantAlarms,
      inventory: FleetInventory,
      backend: TenantDatabaseHost,
      admin: TenantDatabaseAdmin,
      settings: ProvisioningSettings,
    ) =>
      new HostSaga({
        store: new HostStepStore(dataSource),
        resources: new HostAwsResources(rds, secrets, inventory),
        rds,
        secrets,
        alarms,
        backend,
        admin,
        settings,
      }),
  },
  { provide: HostJobs, useValue: new HostJobs() },
  { provide: HostRetirement, inject: [DataSource], useFactory: (ds: DataSource) => new HostRetirement(ds) },
  {
    provide: HostSweep,
    inject: [HostRetirement, SiloConfig],
    useFactory: (r: HostRetirement, config: SiloConfig) =>
      new HostSweep(r, { graceMs: config.worker.hosts.emptyGraceMs }),
  },
];

/** What FleetModule exports of the hosts. */
export const HOST_EXPORTS = [HostSaga, HostJobs, HostRetirement, HostSweep];
