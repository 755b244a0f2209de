import { isTenantId } from './tenant-id';

/**
 * What the control plane tells every data-plane replica when a tenant's route changes: its
 * writes are paused for a move's cut-over, resumed, or switched to the tenant's new place. A hint
 * only: a replica that hears it looks the tenant up in the directory at once, and one that
 * misses it learns the same from its next directory lookup (the status TTL).
 *
 * Published on the Redis channel {@link tenantRouteChannel} as JSON.
 */
export interface TenantRouteSignal {
  tenantId: string;
  /** The tenant's route version after the change (`tenants.route_version`). */
  routeVersion: number;
  writesPaused: boolean;
}

/** The Redis channel of a control plane's route signals (`<prefix>:tenant-routes`). */
export function tenantRouteChannel(resourcePrefix: string): string {
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(resourcePrefix))
    throw new Error(`${JSON.stringify(resourcePrefix)} is not a resource prefix`);
  return `${resourcePrefix}:tenant-routes`;
}

/** A signal as published, or null for anything else on the channel (never trusted further). */
export function parseTenantRouteSignal(message: string): TenantRouteSignal | null {
  try {
    const value = JSON.parse(message) as Partial<TenantRouteSignal>;
    if (
      typeof value.tenantId === 'string' &&
      isTenantId(value.tenantId) &&
      Number.isSafeInteger(value.routeVersion) &&
      typeof value.writesPaused === 'boolean'
    )
      return {
        tenantId: value.tenantId,
        routeVersion: value.routeVersion!,
        writesPaused: value.writesPaused,
      };
  } catch {
    // not JSON: not ours
  }
  return null;
}
