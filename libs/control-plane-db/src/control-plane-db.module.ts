import { DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SiloConfig } from '@silo/config';
import { controlPlaneDataSourceOptions } from './control-plane-data-source';

/** The control-plane DataSource for a Nest app. Never synchronizes: run `npm run migrate`. */
@Module({})
export class ControlPlaneDbModule {
  static forApp(applicationName: string): DynamicModule {
    return {
      module: ControlPlaneDbModule,
      imports: [
        TypeOrmModule.forRootAsync({
          inject: [SiloConfig],
          useFactory: (config: SiloConfig) => ({
            ...controlPlaneDataSourceOptions({
              url: config.database.url,
              poolMax: config.database.poolMax,
              connectTimeoutMs: config.database.connectTimeoutMs,
              applicationName,
            }),
            retryAttempts: 5,
            retryDelay: 1000,
          }),
        }),
      ],
      exports: [TypeOrmModule],
    };
  }
}
