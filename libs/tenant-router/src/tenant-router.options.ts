import { TIER_NAMES } from '@silo/core/tenant/tier';
import type { TenantRouterOptions } from './tenant-router.types';

/** Throws one error naming every bad option. */
export function assertValidRouterOptions(options: TenantRouterOptions): void {
  const problems: string[] = [];
  const atLeast = (name: string, value: unknown, min: number, integer = false): void => {
    if (typeof value !== 'number' || !(value >= min) || (integer && !Number.isInteger(value)))
      problems.push(
        `${name} must be ${integer ? 'an integer' : 'a number'} >= ${min} (got ${String(value)})`,
      );
  };
  atLeast('maxDataSources', options.maxDataSources, 1, true);
  atLeast('connectionBudget', options.connectionBudget, 1, true);
  atLeast('idleTimeoutMs', options.idleTimeoutMs, 1);
  atLeast('connectionTimeoutMs', options.connectionTimeoutMs, 1);
  atLeast('statusTtlMs', options.statusTtlMs, 0);
  atLeast('secretTtlMs', options.secretTtlMs, 0);
  atLeast('failureBackoffMs', options.failureBackoffMs, 0);
  if (options.getDataSourceGraceMs !== undefined)
    atLeast('getDataSourceGraceMs', options.getDataSourceGraceMs, 0);
  if (options.closeTimeoutMs !== undefined) atLeast('closeTimeoutMs', options.closeTimeoutMs, 0);
  if (options.leaseWaitMs !== undefined) atLeast('leaseWaitMs', options.leaseWaitMs, 0);
  if (options.movePauseWaitMs !== undefined) atLeast('movePauseWaitMs', options.movePauseWaitMs, 0);
  if (options.routeSignals !== undefined) {
    const { redis, resourcePrefix } = options.routeSignals;
    if (typeof redis === 'string' ? !/^rediss?:\/\//.test(redis) : typeof redis?.duplicate !== 'function')
      problems.push('routeSignals.redis must be an ioredis client or a redis:// URL');
    if (typeof resourcePrefix !== 'string' || !/^[a-z][a-z0-9-]{0,30}$/.test(resourcePrefix))
      problems.push('routeSignals.resourcePrefix must be a resource prefix (SILO_RESOURCE_PREFIX)');
  }
  if (options.restoreCopies !== undefined) {
    const { maxOpen, poolSize } = options.restoreCopies;
    if (maxOpen !== undefined) atLeast('restoreCopies.maxOpen', maxOpen, 1, true);
    if (poolSize !== undefined) atLeast('restoreCopies.poolSize', poolSize, 1, true);
  }
  if (options.maxLeaseWaitersPerTenant !== undefined)
    atLeast('maxLeaseWaitersPerTenant', options.maxLeaseWaitersPerTenant, 0, true);
  if (options.maxLeasesPerTenantByTier !== undefined)
    for (const tier of TIER_NAMES)
      atLeast(`maxLeasesPerTenantByTier.${tier}`, options.maxLeasesPerTenantByTier[tier], 1, true);
  for (const tier of TIER_NAMES) {
    const size = options.poolSizeByTier?.[tier];
    atLeast(`poolSizeByTier.${tier}`, size, 1, true);
    // A DataSource that could never fit would wait for room forever.
    if (typeof size === 'number' && size > options.connectionBudget)
      problems.push(
        `poolSizeByTier.${tier} (${size}) exceeds connectionBudget (${options.connectionBudget})`,
      );
  }
  if (options.poolSizePerHost !== undefined) {
    atLeast('poolSizePerHost', options.poolSizePerHost, 1, true);
    if (options.poolSizePerHost > options.connectionBudget)
      problems.push(
        `poolSizePerHost (${options.poolSizePerHost}) exceeds connectionBudget (${options.connectionBudget})`,
      );
  }
  if (
    !Array.isArray(options.entities) ||
    options.entities.some((e) => typeof e !== 'function' && typeof e !== 'object')
  )
    problems.push('entities must be entity classes or schemas, not globs');
  if (problems.length > 0) throw new Error(`invalid tenant router options: ${problems.join('; ')}`);
}
