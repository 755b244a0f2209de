import { DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SiloConfig } from '@silo/config';
import { controlPlaneDataSourceOptions } from './control-plane-data-source';

/** The control-plane DataSource for a Nest app. Never synchronizes: run `npm run migrate`. */
@Module({})
export class ControlPlaneDbModule {
  /**
   * `poolMax` overrides `DATABASE_POOL_MAX` for this app (the worker derives a floor from its
   * concurrency).
   */
  static forApp(
    applicationName: string,
    options: { poolMax?: (config: SiloConfig) => number } = {},
  ): DynamicModule {
    return {
      module: ControlPlaneDbModule,
      imports: [
        TypeOrmModule.forRootAsync({
          inject: [SiloConfig],
          useFactory: (config: SiloConfig) => ({
            ...controlPlaneDataSourceOptions({
              url: config.database.url,
              poolMax: options.poolMax?.(config) ?? config.database.poolMax,
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
