import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { TenantRouterStats } from '../tenant-router.types';

/** Upper bounds, in seconds, of `silo_tenant_router_initialisation_seconds`. */
export const INITIALISATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/**
 * Registers the router's families on `registry` (an app's own, not prom-client's global one),
 * read from `router.stats()` at scrape time:
 * - gauges `silo_tenant_router_open_datasources`, `…_open_connections`,
 *   `…_reserved_connections`, `…_leases`, `…_waiting`;
 * - counters since the process started: `…_cold_starts_total`, `…_initialisations_total`,
 *   `…_initialisation_failures_total`, `…_evictions_total`, `…_idle_closed_total`,
 *   `…_secret_fetches_total`, `…_rotations_total`;
 * - `silo_tenant_router_initialisation_seconds` (histogram of successful DataSource initialisations).
 *
 * The router keeps only its most recent initialisation latencies, so the histogram observes
 * those that happened since the previous scrape; if more happened than it keeps, the histogram
 * misses the oldest of them while `…_initialisations_total` still counts them all.
 */
export function registerTenantRouterMetrics(
  registry: Registry,
  router: { stats(): TenantRouterStats },
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

  gauge('silo_tenant_router_open_datasources', 'Tenant DataSources open in this process.', (s) => s.open);
  gauge(
    'silo_tenant_router_open_connections',
    'Connections the pools of the open tenant DataSources hold now.',
    (s) => s.openConnections,
  );
  gauge(
    'silo_tenant_router_reserved_connections',
    'Pool sizes of the tenant DataSources opening, open, or closing and not yet destroyed, summed: what counts against ROUTER_CONNECTION_BUDGET.',
    (s) => s.reservedConnections,
  );
  gauge('silo_tenant_router_leases', 'Tenant DataSource leases held by work in flight.', (s) => s.leases);
  gauge(
    'silo_tenant_router_waiting',
    'Tenant DataSource openings waiting for room under ROUTER_MAX_DATASOURCES or ROUTER_CONNECTION_BUDGET.',
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
    'silo_tenant_router_rotations_total',
    'Authentication failures that made the router read the secret again and reconnect.',
    (s) => s.rotations,
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
