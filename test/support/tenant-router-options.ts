import { readFileSync } from 'node:fs';
import type { SiloConfig } from '@silo/config';
import { pgTls, routerOptions, type TenantRouterOptions } from '@silo/tenant-router';

/**
 * Router options from Silo's configuration (the ROUTER_* variables; TLS from TENANT_DB_SSL and
 * TENANT_DB_CA_FILE; close() waits at most half of SHUTDOWN_GRACE_MS for work in flight). With the local instance backend (LOCAL_INSTANCE_ADMIN_URL) tenant
 * databases live on that local server without TLS, as the worker publishes them.
 */
export function tenantRouterOptionsFromConfig(
  config: SiloConfig,
  entities: TenantRouterOptions['entities'],
): TenantRouterOptions {
  const { tenants } = config;
  return routerOptions(config.router, {
    entities,
    // Leaves the rest of SHUTDOWN_GRACE_MS to the other shutdown hooks.
    closeTimeoutMs: Math.floor(config.shutdownGraceMs / 2),
    ssl: pgTls(
      tenants.localInstanceAdminUrl
        ? { mode: 'disable' }
        : { mode: tenants.ssl, ca: tenants.caFile ? readFileSync(tenants.caFile, 'utf8') : undefined },
    ),
  });
}
