import { DynamicModule, Logger, Module } from '@nestjs/common';
import { jwtVerifierFromSettings } from '@silo/auth';
import { AwsModule, TenantSecrets } from '@silo/aws';
import { SiloConfig, SiloConfigModule } from '@silo/config';
import { ControlPlaneDbModule } from '@silo/control-plane-db';
import { problemDetailsFilter } from '@silo/http';
import { QueueConnectionModule, RedisConnection } from '@silo/queue';
import { SiloLoggerModule } from '@silo/observability';
import {
  ControlPlaneTenantDirectory,
  SecretsManagerCredentialSource,
  tenantAccessProblem,
  TenantRouterModule,
  TenantRequestRate,
  tenantRouterOptionsFromConfig,
  type TenantRouterSetup,
} from '@silo/tenant-router';
import { NoteEntity } from '@silo/tenant-schema';
import { DataSource } from 'typeorm';
import { HealthController } from './health/health.controller';
import { MetricsModule } from './metrics/metrics.module';
import { NotesController } from './notes/notes.controller';
import { NotesService } from './notes/notes.service';

export const EXAMPLE_APP_NAME = 'silo-example-app';

/** Entities of the tenant databases this app reads and writes. */
export const TENANT_ENTITIES = [NoteEntity];

/**
 * The reference user of libs/tenant-router: tenants from the control-plane `tenants` table,
 * credentials from their `<prefix>/<slug>/app` secrets, the tenant from the token's `tenant_id`.
 */
@Module({})
export class ExampleAppModule {
  static register(config: SiloConfig): DynamicModule {
    // Redis only when a tier has a request rate (ROUTER_REQUESTS_PER_SECOND_*).
    const rated = Object.keys(config.router.requestsPerSecondByTier).length > 0;
    return {
      module: ExampleAppModule,
      imports: [
        SiloConfigModule.forRoot(config),
        SiloLoggerModule.forApp(EXAMPLE_APP_NAME),
        ControlPlaneDbModule.forApp(EXAMPLE_APP_NAME),
        TenantRouterModule.forRootAsync({
          imports: rated ? [AwsModule, QueueConnectionModule] : [AwsModule],
          inject: [SiloConfig, DataSource, TenantSecrets, ...(rated ? [RedisConnection] : [])],
          useFactory: (
            config: SiloConfig,
            controlPlane: DataSource,
            secrets: TenantSecrets,
            redis?: RedisConnection,
          ): TenantRouterSetup => {
            return {
              directory: new ControlPlaneTenantDirectory(controlPlane, config.resources.prefix),
              credentials: new SecretsManagerCredentialSource(secrets, config.resources.prefix),
              options: tenantRouterOptionsFromConfig(config, TENANT_ENTITIES),
              verifier: jwtVerifierFromSettings(config.auth, 'the example app', 'data-plane'),
              requestRate: redis
                ? new TenantRequestRate(
                    redis.client,
                    `${config.queue.prefix}:tenant-rate`,
                    config.router.requestsPerSecondByTier,
                    new Logger(TenantRequestRate.name),
                  )
                : undefined,
            };
          },
        }),
        MetricsModule,
      ],
      controllers: [HealthController, NotesController],
      providers: [problemDetailsFilter(tenantAccessProblem), NotesService],
    };
  }
}
