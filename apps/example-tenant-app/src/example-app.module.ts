import { DynamicModule, Module } from '@nestjs/common';
import { jwtVerifierFromSettings } from '@silo/auth';
import { AwsModule, TenantSecrets } from '@silo/aws';
import { SiloConfig, SiloConfigModule } from '@silo/config';
import { ControlPlaneDbModule } from '@silo/control-plane-db';
import { problemDetailsFilter } from '@silo/http';
import { SiloLoggerModule } from '@silo/observability';
import {
  ControlPlaneTenantDirectory,
  SecretsManagerCredentialSource,
  tenantAccessProblem,
  TenantRouterModule,
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
    return {
      module: ExampleAppModule,
      imports: [
        SiloConfigModule.forRoot(config),
        SiloLoggerModule.forApp(EXAMPLE_APP_NAME),
        ControlPlaneDbModule.forApp(EXAMPLE_APP_NAME),
        TenantRouterModule.forRootAsync({
          imports: [AwsModule],
          inject: [SiloConfig, DataSource, TenantSecrets],
          useFactory: (
            config: SiloConfig,
            controlPlane: DataSource,
            secrets: TenantSecrets,
          ): TenantRouterSetup => {
            return {
              directory: new ControlPlaneTenantDirectory(controlPlane),
              credentials: new SecretsManagerCredentialSource(secrets, config.resources.prefix),
              options: tenantRouterOptionsFromConfig(config, TENANT_ENTITIES),
              verifier: jwtVerifierFromSettings(config.auth, 'the example app'),
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
