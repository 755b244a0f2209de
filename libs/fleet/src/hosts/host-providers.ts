import type { Provider } from '@nestjs/common';
import { FleetInventory, RdsInstances, TenantAlarms, TenantSecrets } from '@silo/aws';
import { SiloConfig } from '@silo/config';
import { DataSource } from 'typeorm';
import { TENANT_DATABASE_HOST, type TenantDatabaseHost } from '../backends/tenant-database-host';
import { HostJobs } from '../jobs/host-jobs';
import { ProvisioningSettings } from '../saga/provisioning-settings';
import { TenantDatabaseAdmin } from '../tenant-database-admin';
import { HostAwsResources } from './host-aws-resources';
import type { HostSagaDeps } from './host-create-steps';
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
    ) => {
      const store = new HostStepStore(dataSource);
      const depsIn = (region: string): HostSagaDeps => {
        const regional = {
          rds: rds.inRegion(region),
          secrets: secrets.inRegion(region),
          inventory: inventory.inRegion(region),
        };
        return {
          store,
          resources: new HostAwsResources(regional.rds, regional.secrets, regional.inventory),
          rds: regional.rds,
          secrets: regional.secrets,
          alarms: alarms.inRegion(region),
          backend: backend.inRegion ? backend.inRegion(region) : backend,
          admin,
          settings: settings.inRegion(region),
        };
      };
      const byRegion = new Map<string, HostSagaDeps>();
      return new HostSaga(depsIn(settings.region), undefined, (region) => {
        if (!byRegion.has(region)) byRegion.set(region, depsIn(region));
        return byRegion.get(region)!;
      });
    },
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
