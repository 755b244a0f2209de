import { readFileSync } from 'node:fs';
import type { SiloConfig } from '@silo/config';
import type { TenantRouterOptions } from '@silo/tenant-router';

/**
 * Router options from Silo's configuration (the ROUTER_* variables; TLS from TENANT_DB_SSL and
 * TENANT_DB_CA_FILE; close() waits at most half of SHUTDOWN_GRACE_MS for work in flight). With the local instance backend (LOCAL_INSTANCE_ADMIN_URL) tenant
 * databases live on that local server without TLS, as the worker publishes them.
 */
export function tenantRouterOptionsFromConfig(
  config: SiloConfig,
  entities: TenantRouterOptions['entities'],
): TenantRouterOptions {
  const { router, tenants } = config;
  return {
    entities,
    maxDataSources: router.maxDataSources,
    connectionBudget: router.connectionBudget,
    poolSizeByTier: { ...router.poolSizeByTier },
    poolSizePerHost: router.poolSizePerHost,
    maxLeasesPerTenantByTier: { ...router.maxLeasesPerTenantByTier },
    maxLeaseWaitersPerTenant: router.maxLeaseWaitersPerTenant,
    leaseWaitMs: router.leaseWaitMs,
    idleTimeoutMs: router.idleTimeoutMs,
    connectionTimeoutMs: router.connectTimeoutMs,
    statusTtlMs: router.statusTtlMs,
    secretTtlMs: router.secretTtlMs,
    failureBackoffMs: router.failureBackoffMs,
    // Leaves the rest of SHUTDOWN_GRACE_MS to the other shutdown hooks.
    closeTimeoutMs: Math.floor(config.shutdownGraceMs / 2),
    ssl:
      tenants.localInstanceAdminUrl || tenants.ssl === 'disable'
        ? false
        : {
            rejectUnauthorized: tenants.ssl === 'verify-full',
            ca: tenants.caFile ? readFileSync(tenants.caFile, 'utf8') : undefined,
          },
  };
}
