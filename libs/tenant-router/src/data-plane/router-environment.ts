import { z } from 'zod';
import type { TierName } from '@silo/core/tenant/tier';

/**
 * The ROUTER_* variables: the router's bounds, TTLs and per-tier limits, with their defaults.
 * Silo's own configuration reads the same shape (its `.env.example` documents them), so the two
 * cannot drift apart.
 */
export const ROUTER_ENVIRONMENT_SHAPE = {
  ROUTER_MAX_DATASOURCES: z.coerce.number().int().min(1).max(100_000).default(500),
  ROUTER_CONNECTION_BUDGET: z.coerce.number().int().min(1).max(100_000).default(100),
  ROUTER_POOL_SIZE_STARTER: z.coerce.number().int().min(1).max(100).default(2),
  ROUTER_POOL_SIZE_PRO: z.coerce.number().int().min(1).max(100).default(5),
  ROUTER_POOL_SIZE_ENTERPRISE: z.coerce.number().int().min(1).max(100).default(10),
  ROUTER_POOL_SIZE_PER_HOST: z.coerce.number().int().min(1).max(100).optional(),
  ROUTER_MAX_LEASES_PER_TENANT_STARTER: z.coerce.number().int().min(1).max(10_000).default(4),
  ROUTER_MAX_LEASES_PER_TENANT_PRO: z.coerce.number().int().min(1).max(10_000).default(10),
  ROUTER_MAX_LEASES_PER_TENANT_ENTERPRISE: z.coerce.number().int().min(1).max(10_000).default(20),
  ROUTER_MAX_LEASE_WAITERS_PER_TENANT: z.coerce.number().int().min(0).max(100_000).optional(),
  ROUTER_LEASE_WAIT_MS: z.coerce.number().int().min(0).max(60_000).default(100),
  ROUTER_REQUESTS_PER_SECOND_STARTER: z.coerce.number().int().min(1).max(1_000_000).optional(),
  ROUTER_REQUESTS_PER_SECOND_PRO: z.coerce.number().int().min(1).max(1_000_000).optional(),
  ROUTER_REQUESTS_PER_SECOND_ENTERPRISE: z.coerce.number().int().min(1).max(1_000_000).optional(),
  ROUTER_IDLE_TIMEOUT_MS: z.coerce.number().int().min(1000).max(86_400_000).default(300_000),
  ROUTER_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5000),
  ROUTER_STATUS_TTL_MS: z.coerce.number().int().min(0).max(600_000).default(5000),
  ROUTER_SECRET_TTL_MS: z.coerce.number().int().min(0).max(86_400_000).default(300_000),
  ROUTER_FAILURE_BACKOFF_MS: z.coerce.number().int().min(0).max(600_000).default(2000),
  ROUTER_MOVE_PAUSE_WAIT_MS: z.coerce.number().int().min(0).max(60_000).default(5000),
};

const routerEnvironment = z.object(ROUTER_ENVIRONMENT_SHAPE);
export type RouterEnvironment = z.output<typeof routerEnvironment>;

/** The router's limits, as the ROUTER_* variables give them (or their defaults). */
export interface RouterSettings {
  maxDataSources: number;
  connectionBudget: number;
  poolSizeByTier: Record<TierName, number>;
  /** Unset: the router's default (10, or `connectionBudget` when that is lower). */
  poolSizePerHost?: number;
  maxLeasesPerTenantByTier: Record<TierName, number>;
  /** Unset: as many as the tier's lease cap. */
  maxLeaseWaitersPerTenant?: number;
  leaseWaitMs: number;
  /** Requests per second one tenant may make across every replica (counted in Redis); a tier left out has no limit. */
  requestsPerSecondByTier: Partial<Record<TierName, number>>;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  statusTtlMs: number;
  secretTtlMs: number;
  failureBackoffMs: number;
  /** How long a new lease waits out a moving tenant's paused writes before TENANT_MOVING (503). */
  movePauseWaitMs: number;
}

/** The defaults, as an application that sets no ROUTER_* variable gets them. */
export const DEFAULT_ROUTER_SETTINGS: RouterSettings = routerSettingsFromEnvironment(
  routerEnvironment.parse({}),
);

/** Problems of the ROUTER_* values together (each alone is checked by its schema). */
export function routerEnvironmentIssues(env: RouterEnvironment): { variable: string; message: string }[] {
  const issues: { variable: string; message: string }[] = [];
  const largestPool = Math.max(
    env.ROUTER_POOL_SIZE_STARTER,
    env.ROUTER_POOL_SIZE_PRO,
    env.ROUTER_POOL_SIZE_ENTERPRISE,
  );
  if (env.ROUTER_CONNECTION_BUDGET < largestPool) {
    issues.push({
      variable: 'ROUTER_CONNECTION_BUDGET',
      message: `must be at least the largest ROUTER_POOL_SIZE_* (${largestPool}), or that tier could never connect`,
    });
  }
  if (
    env.ROUTER_POOL_SIZE_PER_HOST !== undefined &&
    env.ROUTER_POOL_SIZE_PER_HOST > env.ROUTER_CONNECTION_BUDGET
  ) {
    issues.push({
      variable: 'ROUTER_POOL_SIZE_PER_HOST',
      message: `must not exceed ROUTER_CONNECTION_BUDGET (${env.ROUTER_CONNECTION_BUDGET}), or a pool host's tenants could never connect`,
    });
  }
  return issues;
}

export function routerSettingsFromEnvironment(env: RouterEnvironment): RouterSettings {
  const requests: Partial<Record<TierName, number>> = {};
  if (env.ROUTER_REQUESTS_PER_SECOND_STARTER !== undefined)
    requests.starter = env.ROUTER_REQUESTS_PER_SECOND_STARTER;
  if (env.ROUTER_REQUESTS_PER_SECOND_PRO !== undefined) requests.pro = env.ROUTER_REQUESTS_PER_SECOND_PRO;
  if (env.ROUTER_REQUESTS_PER_SECOND_ENTERPRISE !== undefined)
    requests.enterprise = env.ROUTER_REQUESTS_PER_SECOND_ENTERPRISE;
  return {
    maxDataSources: env.ROUTER_MAX_DATASOURCES,
    connectionBudget: env.ROUTER_CONNECTION_BUDGET,
    poolSizeByTier: {
      starter: env.ROUTER_POOL_SIZE_STARTER,
      pro: env.ROUTER_POOL_SIZE_PRO,
      enterprise: env.ROUTER_POOL_SIZE_ENTERPRISE,
    },
    poolSizePerHost: env.ROUTER_POOL_SIZE_PER_HOST,
    maxLeasesPerTenantByTier: {
      starter: env.ROUTER_MAX_LEASES_PER_TENANT_STARTER,
      pro: env.ROUTER_MAX_LEASES_PER_TENANT_PRO,
      enterprise: env.ROUTER_MAX_LEASES_PER_TENANT_ENTERPRISE,
    },
    maxLeaseWaitersPerTenant: env.ROUTER_MAX_LEASE_WAITERS_PER_TENANT,
    leaseWaitMs: env.ROUTER_LEASE_WAIT_MS,
    requestsPerSecondByTier: requests,
    idleTimeoutMs: env.ROUTER_IDLE_TIMEOUT_MS,
    connectTimeoutMs: env.ROUTER_CONNECT_TIMEOUT_MS,
    statusTtlMs: env.ROUTER_STATUS_TTL_MS,
    secretTtlMs: env.ROUTER_SECRET_TTL_MS,
    failureBackoffMs: env.ROUTER_FAILURE_BACKOFF_MS,
    movePauseWaitMs: env.ROUTER_MOVE_PAUSE_WAIT_MS,
  };
}
