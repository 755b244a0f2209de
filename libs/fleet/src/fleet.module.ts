import { Module, type Provider } from '@nestjs/common';
import {
  AwsModule,
  FleetInventory,
  RdsInstances,
  TenantAlarms,
  TenantExports,
  TenantSecrets,
  RdsEngineVersions,
} from '@silo/aws';
import { SiloConfig } from '@silo/config';
import { DataSource } from 'typeorm';
import { regionalDatabaseHosts } from './backends/regional-database-hosts';
import { TENANT_DATABASE_HOST, type TenantDatabaseHost } from './backends/tenant-database-host';
import { ChangeStore } from './changes/change-store';
import { TenantChanges } from './changes/tenant-changes.service';
import { TenantMoves } from './moves/tenant-moves.service';
import { TenantRestores } from './restores/tenant-restores.service';
import { TenantUndeletes } from './undelete/tenant-undeletes.service';
import { TenantSnapshots } from './snapshots/tenant-snapshots.service';
import { HostAllocator } from './hosts/host-allocator';
import { HOST_EXPORTS, HOST_PROVIDERS } from './hosts/host-providers';
import { HostQueries } from './hosts/host-queries.service';
import { HostRotationStore } from './hosts/host-rotation-store';
import { HostRotations } from './hosts/host-rotations.service';
import { HostStepStore } from './hosts/host-step-store';
import { TenantOnboarding } from './onboarding/tenant-onboarding.service';
import { TypeormSharedHosts } from './placements/shared-hosts';
import { TenantQueries } from './queries/tenant-queries.service';
import { reconcilerFleet } from './reconcile/fleet-check';
import { Reconciliation } from './reconcile/reconciliation.service';
import { SchemaRollouts } from './rollouts/schema-rollouts.service';
import { ProvisioningSettings } from './saga/provisioning-settings';
import type { StepDeps } from './saga/provisioning-steps';
import { TypeormProvisioningStore } from './store/typeorm-provisioning-store';
import { TenantDatabaseAdmin } from './tenant-database-admin';

/** Token for the reconciler's fleet access and settings ({@link reconcilerFleet}). */
export const RECONCILER_FLEET = Symbol('RECONCILER_FLEET');

const reconcilerFleetProvider: Provider = {
  provide: RECONCILER_FLEET,
  inject: [FleetInventory, TenantAlarms, ProvisioningSettings, SiloConfig, RdsEngineVersions],
  useFactory: (
    inventory: FleetInventory,
    alarms: TenantAlarms,
    settings: ProvisioningSettings,
    config: SiloConfig,
    engineVersions: RdsEngineVersions,
  ) => {
    const days = {
      retentionDays: config.worker.reconcile.finalSnapshotRetentionDays,
      expiry: config.worker.reconcile.finalSnapshotExpiry,
    };
    // Every configured region is looked at, each through its own clients and with its own key and topic.
    const regions = settings.regions.map((region) => ({
      region,
      ...reconcilerFleet(
        inventory.inRegion(region),
        alarms.inRegion(region),
        settings.inRegion(region),
        days,
        engineVersions.inRegion(region),
      ),
    }));
    return {
      ...reconcilerFleet(inventory, alarms, settings, days, engineVersions),
      regions,
      defaultRegion: settings.defaultRegion,
    };
  },
};

/** Token for the {@link StepDeps} bundle the sagas are built from. */
export const SAGA_DEPS = Symbol('SAGA_DEPS');

const hostProvider: Provider = {
  provide: TENANT_DATABASE_HOST,
  inject: [SiloConfig, RdsInstances],
  // The default region's backend, and each other region's through inRegion.
  useFactory: (config: SiloConfig, rds: RdsInstances): TenantDatabaseHost =>
    regionalDatabaseHosts(config, rds),
};

const sagaDepsProvider: Provider = {
  provide: SAGA_DEPS,
  inject: [
    TypeormProvisioningStore,
    RdsInstances,
    TenantSecrets,
    TenantAlarms,
    TENANT_DATABASE_HOST,
    TenantDatabaseAdmin,
    ProvisioningSettings,
    DataSource,
    HostAllocator,
    TenantExports,
  ],
  useFactory: (
    store: TypeormProvisioningStore,
    rds: RdsInstances,
    secrets: TenantSecrets,
    alarms: TenantAlarms,
    host: TenantDatabaseHost,
    admin: TenantDatabaseAdmin,
    settings: ProvisioningSettings,
    dataSource: DataSource,
    allocator: HostAllocator,
    exports: TenantExports,
  ): StepDeps => ({
    store,
    rds,
    secrets,
    alarms,
    host,
    admin,
    settings,
    hosts: new TypeormSharedHosts(dataSource, allocator),
    exports,
  }),
};

@Module({
  imports: [AwsModule],
  providers: [
    {
      provide: ProvisioningSettings,
      inject: [SiloConfig],
      useFactory: (config: SiloConfig) => new ProvisioningSettings(config),
    },
    TypeormProvisioningStore,
    TenantDatabaseAdmin,
    TenantOnboarding,
    TenantQueries,
    TenantChanges,
    TenantMoves,
    TenantRestores,
    TenantUndeletes,
    TenantSnapshots,
    {
      provide: ChangeStore,
      inject: [DataSource],
      useFactory: (dataSource: DataSource) => new ChangeStore(dataSource),
    },
    SchemaRollouts,
    Reconciliation,
    HostQueries,
    {
      provide: HostRotations,
      inject: [DataSource],
      useFactory: (dataSource: DataSource) =>
        new HostRotations(new HostRotationStore(dataSource), new HostStepStore(dataSource)),
    },
    {
      provide: HostAllocator,
      inject: [DataSource, ProvisioningSettings],
      useFactory: (dataSource: DataSource, settings: ProvisioningSettings) =>
        new HostAllocator(dataSource, settings),
    },
    hostProvider,
    sagaDepsProvider,
    reconcilerFleetProvider,
    ...HOST_PROVIDERS,
  ],
  exports: [
    ProvisioningSettings,
    TypeormProvisioningStore,
    TenantOnboarding,
    TenantQueries,
    TenantChanges,
    TenantMoves,
    TenantRestores,
    TenantUndeletes,
    TenantSnapshots,
    ChangeStore,
    SchemaRollouts,
    Reconciliation,
    HostQueries,
    HostRotations,
    HostAllocator,
    TENANT_DATABASE_HOST,
    SAGA_DEPS,
    RECONCILER_FLEET,
    AwsModule,
    ...HOST_EXPORTS,
  ],
})
export class FleetModule {}
