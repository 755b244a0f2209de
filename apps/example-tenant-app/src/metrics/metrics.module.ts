import { Module } from '@nestjs/common';
import { TenantRequestRate, TenantRouter } from '@silo/tenant-router';
import { registerTenantRouterMetrics } from '@silo/tenant-router/metrics';
import { TENANT_REQUEST_RATE } from '@silo/tenant-router/nest';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { MetricsController } from './metrics.controller';

/** `GET /metrics`: the router's families and this process's, on a registry of this app's own. */
@Module({
  controllers: [MetricsController],
  providers: [
    {
      provide: Registry,
      inject: [TenantRouter, TENANT_REQUEST_RATE],
      useFactory: (router: TenantRouter, requestRate: TenantRequestRate | null) => {
        const registry = new Registry();
        collectDefaultMetrics({ register: registry });
        registerTenantRouterMetrics(registry, router, requestRate);
        return registry;
      },
    },
  ],
})
export class MetricsModule {}
