import { DynamicModule, Global, Module } from '@nestjs/common';
import { SiloConfig } from './silo-config';

/** Makes one already-validated {@link SiloConfig} injectable everywhere. */
@Global()
@Module({})
export class SiloConfigModule {
  static forRoot(config: SiloConfig): DynamicModule {
    return {
      module: SiloConfigModule,
      providers: [{ provide: SiloConfig, useValue: config }],
      exports: [SiloConfig],
    };
  }
}
