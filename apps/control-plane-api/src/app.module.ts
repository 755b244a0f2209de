import { DynamicModule, Module } from '@nestjs/common';
import { SiloConfig, SiloConfigModule } from '@silo/config';
import { ControlPlaneDbModule } from '@silo/control-plane-db';
import { problemDetailsFilter } from '@silo/http';
import { SiloLoggerModule } from '@silo/observability';
import { FleetModule } from '@silo/fleet';
import { ProvisioningQueueModule, QueueConnectionModule } from '@silo/queue';
import { AlarmsController } from './alarms/alarms.controller';
import { FleetAlarms } from './alarms/fleet-alarms.service';
import { AuthModule } from './auth/auth.module';
import { HealthModule } from './health/health.module';
import { hostErrorProblem } from './hosts/host-error.problem';
import { HostRotationsController } from './hosts/host-rotations.controller';
import { HostsController } from './hosts/hosts.controller';
import { MetricsModule } from './metrics/metrics.module';
import { TenantMovesController } from './tenants/tenant-moves.controller';
import { TenantRestoresController } from './tenants/tenant-restores.controller';
import { TenantUndeleteController } from './tenants/tenant-undelete.controller';
import { TenantSnapshotsController } from './tenants/tenant-snapshots.controller';
import { TenantViews } from './tenants/tenant-views';
import { TenantsController } from './tenants/tenants.controller';
import { rolloutErrorProblem } from './http/rollout-error.problem';
import { tenantErrorProblem } from './http/tenant-error.problem';
import { ReconcileController } from './reconcile/reconcile.controller';
import { SchemaRolloutsController } from './rollouts/schema-rollouts.controller';
import { MutationRateLimiter, MutationRateLimitGuard } from './rate-limit/mutation-rate-limit.guard';
import { ReadRateLimiter, ReadRateLimitGuard } from './rate-limit/read-rate-limit.guard';

export const API_APP_NAME = 'silo-api';

@Module({})
export class AppModule {
  static register(config: SiloConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        SiloConfigModule.forRoot(config),
        SiloLoggerModule.forApp(API_APP_NAME),
        ControlPlaneDbModule.forApp(API_APP_NAME),
        QueueConnectionModule,
        ProvisioningQueueModule,
        AuthModule,
        FleetModule,
        HealthModule,
        MetricsModule.register(config),
      ],
      controllers: [
        TenantsController,
        TenantMovesController,
        TenantRestoresController,
        TenantUndeleteController,
        TenantSnapshotsController,
        SchemaRolloutsController,
        ReconcileController,
        AlarmsController,
        HostsController,
        HostRotationsController,
      ],
      providers: [
        problemDetailsFilter(tenantErrorProblem, rolloutErrorProblem, hostErrorProblem),
        MutationRateLimiter,
        MutationRateLimitGuard,
        ReadRateLimiter,
        ReadRateLimitGuard,
        FleetAlarms,
        TenantViews,
      ],
    };
  }
}
