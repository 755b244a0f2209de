import { Module } from '@nestjs/common';
import { registerTenantRouterMetrics, TenantRouter } from '@silo/tenant-router';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { MetricsController } from './metrics.controller';

/** `GET /metrics`: the router's families and this process's, on a registry of this app's own. */
@Module({
  controllers: [MetricsController],
  providers: [
    {
      provide: Registry,
      inject: [TenantRouter],
      useFactory: (router: TenantRouter) => {
        const registry = new Registry();
        collectDefaultMetrics({ register: registry });
        registerTenantRouterMetrics(registry, router);
        return registry;
      },
    },
  ],
})
export class MetricsModule {}
