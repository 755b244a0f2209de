import { type TierProfiles } from './tier-profile';

/**
 * The profiles used when no tier profiles file is given (design.md, "Tier profiles" and
 * "Placements"): starter tenants pooled, pro tenants a schema each, enterprise tenants their own
 * instance.
 *
 * The shared tiers' instance fields size their hosts, each of which carries many tenants, so a
 * host is protected like one large tenant: Multi-AZ (a standby costs cents per tenant, an outage
 * hits every tenant on it), deletion protection (Silo lifts it itself when it deletes an empty
 * host) and Performance Insights at its free 7-day retention, to find the noisy neighbour.
 *
 * - pool: a db.t4g.medium (2 vCPU, 4 GiB, max_connections 450). Pooled tenants share one pool of
 *   connections per host and each request is one short transaction, so a thousand small tenants
 *   fit in 200 connections; 200 GiB is 200 MiB a tenant. Burstable suits many mostly idle
 *   tenants (RDS runs T classes unlimited: a busy hour costs surplus credits, not throttling).
 * - schema: a db.m6i.large (2 vCPU, 8 GiB, max_connections 901). Each schema tenant logs in as
 *   its own role, so connections are not shared between tenants: 50 tenants and 400 connections
 *   is eight each, with memory left for work_mem. 500 GiB is 10 GiB a tenant and, from 400 GiB,
 *   gp3's baseline of 12,000 IOPS and 500 MiB/s for all of them.
 *
 * Both budgets are under half of max_connections; the connections alarm (50 %) fires a little
 * above the budget, where something other than the tenants' pools is holding connections.
 */
export const DEFAULT_TIER_PROFILES: TierProfiles = {
  starter: {
    tier: 'starter',
    placement: 'pool',
    capacity: { tenantsPerHost: 1000, connectionBudget: 200 },
    instanceClass: 'db.t4g.medium',
    engineVersion: '17',
    storage: { type: 'gp3', allocatedGiB: 200 },
    multiAz: true,
    deletionProtection: true,
    backupRetentionDays: 7,
    performanceInsights: { enabled: true, retentionDays: 7 },
    alarms: {
      cpuHighPercent: 80,
      freeStorageLowPercent: 15,
      connectionsHighPercent: 50,
      freeableMemoryLowPercent: 10,
    },
  },
  pro: {
    tier: 'pro',
    placement: 'schema',
    capacity: { tenantsPerHost: 50, connectionBudget: 400 },
    instanceClass: 'db.m6i.large',
    engineVersion: '17',
    storage: { type: 'gp3', allocatedGiB: 500 },
    multiAz: true,
    deletionProtection: true,
    backupRetentionDays: 14,
    performanceInsights: { enabled: true, retentionDays: 7 },
    alarms: {
      cpuHighPercent: 80,
      freeStorageLowPercent: 15,
      connectionsHighPercent: 50,
      freeableMemoryLowPercent: 10,
    },
  },
  enterprise: {
    tier: 'enterprise',
    placement: 'instance',
    instanceClass: 'db.m6i.large',
    engineVersion: '17',
    storage: { type: 'gp3', allocatedGiB: 500, iops: 16_000, throughputMiBps: 1000 },
    multiAz: true,
    deletionProtection: true,
    backupRetentionDays: 35,
    performanceInsights: { enabled: true, retentionDays: 731 },
    alarms: {
      cpuHighPercent: 80,
      freeStorageLowPercent: 20,
      connectionsHighPercent: 80,
      freeableMemoryLowPercent: 15,
    },
  },
};
