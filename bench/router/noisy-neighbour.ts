import {
  TenantAccessError,
  TenantAccessErrorCode,
  TenantRouter,
  type TenantRouterOptions,
} from '@silo/tenant-router';
import { readNewestNotes } from './contender';
import type { InMemoryTenantPorts } from './in-memory-ports';
import { quantile } from './measurements';

/** What the quiet tenants and the noisy one got in one stretch. */
export interface NoisyStretch {
  quietOk: number;
  quietP50Ms: number;
  quietP99Ms: number;
  quietErrors: number;
  noisyOk: number;
  noisyBusy: number;
  noisyOtherErrors: number;
  noisyP99Ms: number;
  /** Leases given past the tier's cap (the noisy tenant's: a quiet one never reaches it). */
  borrowed: number;
  /** Connections that waited for a place under the budget: what makes the cap bind. */
  connectionWaits: number;
}

export interface NoisyNeighbourResult {
  quietTenants: number;
  workersPerQuietTenant: number;
  noisyWorkers: number;
  durationS: number;
  alone: NoisyStretch;
  withShares: NoisyStretch;
  withoutShares: NoisyStretch;
}

/** A noisy worker that was refused (429) tries again after this long: harder than Retry-After says. */
const NOISY_RETRY_MS = 100;

/**
 * Noisy neighbour: `quiet` tenants with `perQuiet` closed-loop workers each, and one tenant with
 * 20 × `perQuiet` workers. Three stretches of `durationS`, each on a fresh router: the quiet
 * tenants alone (their baseline p99), then with the noisy tenant, both with the fair shares of
 * `routerOptions` (the shipped ones), then with the noisy tenant and no lease cap.
 */
export async function noisyNeighbour(options: {
  ports: () => InMemoryTenantPorts;
  routerOptions: TenantRouterOptions;
  quietIds: readonly string[];
  noisyId: string;
  perQuiet: number;
  durationS: number;
  log: (line: string) => void;
  signal: AbortSignal;
}): Promise<NoisyNeighbourResult> {
  const { routerOptions, quietIds, noisyId, perQuiet, durationS, signal } = options;
  const noisyWorkers = 20 * perQuiet;
  const noCap: Partial<TenantRouterOptions> = {
    maxLeasesPerTenantByTier: undefined,
    maxLeaseWaitersPerTenant: undefined,
  };
  const stretch = async (noisy: boolean, extra: Partial<TenantRouterOptions>): Promise<NoisyStretch> => {
    const ports = options.ports();
    const router = new TenantRouter(ports, ports, { ...routerOptions, ...extra });
    try {
      // Every tenant opened first: the stretch measures serving, not opening.
      for (const id of [...quietIds, noisyId]) await router.run(id, readNewestNotes);
      const quiet: number[] = [];
      const noisyLatencies: number[] = [];
      let quietErrors = 0;
      let noisyBusy = 0;
      let noisyOtherErrors = 0;
      const endAt = performance.now() + durationS * 1000;
      const worker = async (id: string, isNoisy: boolean) => {
        while (performance.now() < endAt && !signal.aborted) {
          const sent = performance.now();
          try {
            await router.run(id, readNewestNotes);
            (isNoisy ? noisyLatencies : quiet).push(performance.now() - sent);
          } catch (error) {
            if (!isNoisy) quietErrors++;
            else if (error instanceof TenantAccessError && error.code === TenantAccessErrorCode.TENANT_BUSY) {
              noisyBusy++;
              await new Promise((resolve) => setTimeout(resolve, NOISY_RETRY_MS));
            } else noisyOtherErrors++;
          }
        }
      };
      await Promise.all([
        ...quietIds.flatMap((id) => Array.from({ length: perQuiet }, () => worker(id, false))),
        ...(noisy ? Array.from({ length: noisyWorkers }, () => worker(noisyId, true)) : []),
      ]);
      signal.throwIfAborted();
      const stats = router.stats();
      quiet.sort((a, b) => a - b);
      noisyLatencies.sort((a, b) => a - b);
      return {
        quietOk: quiet.length,
        quietP50Ms: quantile(quiet, 0.5),
        quietP99Ms: quantile(quiet, 0.99),
        quietErrors,
        noisyOk: noisyLatencies.length,
        noisyBusy,
        noisyOtherErrors,
        noisyP99Ms: noisyLatencies.length ? quantile(noisyLatencies, 0.99) : 0,
        borrowed:
          stats.shares.starter.borrowed + stats.shares.pro.borrowed + stats.shares.enterprise.borrowed,
        connectionWaits: stats.connectionWaits,
      };
    } finally {
      await router.close();
    }
  };
  options.log('noisy neighbour: quiet tenants alone');
  const alone = await stretch(false, {});
  options.log('noisy neighbour: with the noisy tenant, fair shares as shipped');
  const withShares = await stretch(true, {});
  options.log('noisy neighbour: with the noisy tenant, no lease cap');
  const withoutShares = await stretch(true, noCap);
  return {
    quietTenants: quietIds.length,
    workersPerQuietTenant: perQuiet,
    noisyWorkers,
    durationS,
    alone,
    withShares,
    withoutShares,
  };
}

/** The section of the report, with its two targets. */
export function noisyNeighbourLines(r: NoisyNeighbourResult): string[] {
  const ms = (v: number) => v.toFixed(v >= 100 ? 0 : 2);
  const row = (label: string, s: NoisyStretch) =>
    `  ${label.padEnd(30)} quiet ${String(s.quietOk).padStart(7)} ok, p50/p99 ${ms(s.quietP50Ms)}/${ms(s.quietP99Ms)} ms, ` +
    `${s.quietErrors} errors | noisy ${s.noisyOk} ok (p99 ${ms(s.noisyP99Ms)} ms), ${s.noisyBusy} × 429, ` +
    `${s.noisyOtherErrors} other errors; ${s.borrowed} leases borrowed past the cap, ${s.connectionWaits} connection waits`;
  const shared = r.withShares.quietP99Ms / r.alone.quietP99Ms;
  const unshared = r.withoutShares.quietP99Ms / r.alone.quietP99Ms;
  const verdict = (pass: boolean) => (pass ? 'PASS' : 'FAIL');
  return [
    `noisy neighbour: ${r.quietTenants} quiet tenants × ${r.workersPerQuietTenant} closed-loop workers, one noisy ` +
      `tenant with ${r.noisyWorkers} (20× a quiet tenant's load; a refused worker retries after ${NOISY_RETRY_MS} ms), ` +
      `${r.durationS} s per stretch, a fresh router each`,
    row('quiet tenants alone', r.alone),
    row('+ noisy, fair shares shipped', r.withShares),
    row('+ noisy, no lease cap', r.withoutShares),
    `  ${verdict(shared <= 1.5 && r.withShares.quietErrors === 0)}  quiet p99 with the noisy tenant ÷ alone = ` +
      `${shared.toFixed(2)}× (target ≤ 1.50×; without a lease cap ${unshared.toFixed(2)}×)`,
    // Work-conserving shares refuse only while something waits for the budget.
    `  ${verdict((r.withShares.noisyBusy === 0 || r.withShares.connectionWaits > 0) && r.withShares.noisyOtherErrors === 0)}  ` +
      `the noisy tenant is refused (${r.withShares.noisyBusy} × 429) only while connections wait for the budget ` +
      `(${r.withShares.connectionWaits} waits), and gets no other error (${r.withShares.noisyOtherErrors})`,
  ];
}
