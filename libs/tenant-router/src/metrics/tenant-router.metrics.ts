import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { TIER_NAMES, type TierName } from '@silo/core/tenant/tier';
import type { TenantLeaseTime } from '../lease-time-top';
import type { TenantRouterStats } from '../tenant-router.types';
import type { TenantRequestRateCounts } from '../tenant-request-rate';

/** Upper bounds, in seconds, of `silo_tenant_router_initialisation_seconds`. */
export const INITIALISATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/**
 * Registers the router's families on `registry` (an app's own, not prom-client's global one),
 * read from `router.stats()` at scrape time:
 * - gauges `silo_tenant_router_open_datasources`, `…_open_connections`,
 *   `…_connections_waiting`, `…_leases`, `…_waiting`, and `…_top_tenant_lease_seconds` (the 10
 *   tenants with the most lease time lately: bounded cardinality);
 * - per tier: `…_leases_total`, `…_borrowed_leases_total`, `…_lease_waits_total`,
 *   `…_lease_rejections_total`, and with a request rate `…_rate_limited_requests_total`,
 *   `…_rate_limit_rejections_total`, `…_rate_limit_local_total`;
 * - counters since the process started: `…_cold_starts_total`, `…_initialisations_total`,
 *   `…_initialisation_failures_total`, `…_evictions_total`, `…_idle_closed_total`,
 *   `…_secret_fetches_total`, `…_scram_derivations_total`, `…_scram_key_reuses_total`,
 *   `…_rotations_total`, and for moves `…_move_pause_waits_total`, `…_moving_refusals_total`,
 *   `…_route_switches_total`, `…_route_signals_total`;
 * - `silo_tenant_router_initialisation_seconds` (histogram of successful DataSource initialisations).
 *
 * The router keeps only its most recent initialisation latencies, so the histogram observes
 * those that happened since the previous scrape; if more happened than it keeps, the histogram
 * misses the oldest of them while `…_initialisations_total` still counts them all.
 */
export function registerTenantRouterMetrics(
  registry: Registry,
  router: { stats(): TenantRouterStats; topTenantsByLeaseTime(n: number): TenantLeaseTime[] },
  /** The app's request rate per tenant, when it sets one. */
  requestRate?: { counts: Record<TierName, TenantRequestRateCounts> } | null,
): void {
  const counter = (name: string, help: string, read: (s: TenantRouterStats) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read(router.stats()));
      },
    });
  const gauge = (name: string, help: string, read: (s: TenantRouterStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(router.stats()));
      },
    });

  gauge(
    'silo_tenant_router_open_datasources',
    'Tenant DataSources cached in this process (holding connections or not).',
    (s) => s.open,
  );
  gauge(
    'silo_tenant_router_open_connections',
    'Live connections to tenant databases (connecting ones included): what ROUTER_CONNECTION_BUDGET bounds.',
    (s) => s.openConnections,
  );
  gauge(
    'silo_tenant_router_connections_waiting',
    'Connections to tenant databases waiting for a place under ROUTER_CONNECTION_BUDGET.',
    (s) => s.connectionsWaiting,
  );
  counter(
    'silo_tenant_router_connection_waits_total',
    'Connections to tenant databases that waited for a place under ROUTER_CONNECTION_BUDGET.',
    (s) => s.connectionWaits,
  );
  /** A counter per tier, read from per-tier counts at scrape time. */
  const perTier = <C>(
    counts: () => Record<TierName, C>,
    name: string,
    help: string,
    read: (c: C) => number,
  ) =>
    new Counter({
      name,
      help,
      labelNames: ['tier'],
      registers: [registry],
      collect() {
        this.reset();
        const byTier = counts();
        for (const tier of TIER_NAMES) this.inc({ tier }, read(byTier[tier]));
      },
    });
  const shares = () => router.stats().shares;
  perTier(
    shares,
    'silo_tenant_router_leases_total',
    'Leases given to tenant work, by tier.',
    (c) => c.leases,
  );
  perTier(
    shares,
    'silo_tenant_router_borrowed_leases_total',
    'Leases given past their tier’s ROUTER_MAX_LEASES_PER_TENANT_* while nothing waited for the connection budget, by tier.',
    (c) => c.borrowed,
  );
  perTier(
    shares,
    'silo_tenant_router_lease_waits_total',
    'Calls that waited because their tenant held all the leases its tier allows (ROUTER_MAX_LEASES_PER_TENANT_*) while the connection budget was contended, by tier.',
    (c) => c.waits,
  );
  perTier(
    shares,
    'silo_tenant_router_lease_rejections_total',
    'Calls refused with 429 because their tenant held all the leases its tier allows, by tier.',
    (c) => c.rejections,
  );
  if (requestRate) {
    const rates = (): Record<TierName, TenantRequestRateCounts> => requestRate.counts;
    perTier(
      rates,
      'silo_tenant_router_rate_limited_requests_total',
      'Requests counted against their tenant’s ROUTER_REQUESTS_PER_SECOND_*, by tier.',
      (c) => c.requests,
    );
    perTier(
      rates,
      'silo_tenant_router_rate_limit_rejections_total',
      'Requests refused with 429 because their tenant made as many requests this second as its tier allows, by tier.',
      (c) => c.rejections,
    );
    perTier(
      rates,
      'silo_tenant_router_rate_limit_local_total',
      'Requests counted by this process alone because Redis did not answer, by tier.',
      (c) => c.local,
    );
  }
  new Gauge({
    name: 'silo_tenant_router_top_tenant_lease_seconds',
    help: 'Lease time since the previous scrape of the 10 tenants that held leases longest (a bounded view: 10 series at a time).',
    labelNames: ['tenant_id'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { tenantId, leaseMs } of router.topTenantsByLeaseTime(10))
        this.set({ tenant_id: tenantId }, leaseMs / 1000);
    },
  });
  gauge('silo_tenant_router_leases', 'Tenant DataSource leases held by work in flight.', (s) => s.leases);
  gauge(
    'silo_tenant_router_waiting',
    'Tenant DataSource openings waiting for room under ROUTER_MAX_DATASOURCES.',
    (s) => s.waiting,
  );
  counter(
    'silo_tenant_router_cold_starts_total',
    'Calls that found no open DataSource for their tenant and waited for one to open.',
    (s) => s.coldStarts,
  );
  counter(
    'silo_tenant_router_initialisations_total',
    'Tenant DataSource initialisations, failed ones included.',
    (s) => s.initialisations,
  );
  counter(
    'silo_tenant_router_initialisation_failures_total',
    'Tenant DataSource initialisations that failed.',
    (s) => s.initialisationFailures,
  );
  counter(
    'silo_tenant_router_evictions_total',
    'Tenant DataSources closed to make room for another tenant’s.',
    (s) => s.evictions,
  );
  counter(
    'silo_tenant_router_idle_closed_total',
    'Tenant DataSources closed after ROUTER_IDLE_TIMEOUT_MS unused.',
    (s) => s.idleClosed,
  );
  counter(
    'silo_tenant_router_secret_fetches_total',
    'Reads of tenant app secrets from the credential source (Secrets Manager).',
    (s) => s.secretFetches,
  );
  counter(
    'silo_tenant_router_scram_derivations_total',
    'SCRAM-SHA-256 logins to tenant databases that derived the salted password (PBKDF2).',
    (s) => s.scramDerivations,
  );
  counter(
    'silo_tenant_router_scram_key_reuses_total',
    'SCRAM-SHA-256 logins to tenant databases that reused keys derived earlier for the same password and salt.',
    (s) => s.scramKeyHits,
  );
  counter(
    'silo_tenant_router_rotations_total',
    'Authentication failures that made the router read the secret again and reconnect.',
    (s) => s.rotations,
  );
  counter(
    'silo_tenant_router_move_pause_waits_total',
    'Leases that waited for a moving tenant’s paused writes to resume.',
    (s) => s.moves.pauseWaits,
  );
  counter(
    'silo_tenant_router_moving_refusals_total',
    'Calls refused as TENANT_MOVING (503): the pause outlasted ROUTER_MOVE_PAUSE_WAIT_MS, or the old database refused a write.',
    (s) => s.moves.refusals,
  );
  counter(
    'silo_tenant_router_route_switches_total',
    'Tenant DataSources retired because the tenant’s route switched (a move).',
    (s) => s.moves.routeSwitches,
  );
  counter(
    'silo_tenant_router_route_signals_total',
    'Route signals heard from the control plane.',
    (s) => s.moves.signals,
  );

  let observed = 0;
  new Histogram({
    name: 'silo_tenant_router_initialisation_seconds',
    help: 'Time to initialise a tenant DataSource (DataSource.initialize: connect and first query), successful ones.',
    buckets: [...INITIALISATION_BUCKETS],
    registers: [registry],
    collect() {
      const { initialisations, initialisationFailures, initialisationMs } = router.stats();
      // initialisationMs holds successful initialisations only, most recent last.
      const succeeded = initialisations - initialisationFailures;
      const fresh = Math.min(Math.max(0, succeeded - observed), initialisationMs.length);
      for (const ms of initialisationMs.slice(initialisationMs.length - fresh)) this.observe(ms / 1000);
      observed = succeeded;
    },
  });
}
