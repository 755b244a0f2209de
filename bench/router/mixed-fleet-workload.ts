import type { TenantRouterOptions, TenantRouterStats } from '@silo/tenant-router';
import { CONTENDER_LABELS, type Contender } from './contender';
import { cpuSplitOver, pbkdf2Ms, pgScramDerivations, type CpuSplit } from './cpu-time';
import type { InMemoryTenantPorts } from './in-memory-ports';
import { connectsOpened, type ConnectionSampler } from './measurements';
import { PLACEMENT_KINDS, placementOf, type MixedFleet, type PlacementKind } from './mixed-fleet';
import { NaiveMapContender } from './naive-map.contender';
import { TenantRouterContender } from './tenant-router.contender';
import { closedLoop, zipfPicker, type WorkloadResult } from './workloads';

/** One contender's run over the mixed fleet. */
export interface MixedRun {
  key: 'a' | 'c';
  result: WorkloadResult;
  /** Requests that found no DataSource for their tenant: the naive Map's initialisations, the router's cold starts. */
  coldStarts: number;
  initialisations: number;
  connectsOpened: number;
  /** SCRAM salted-password derivations (PBKDF2): pg's own client's, plus the router's key cache misses. */
  scramDerivations: number;
  /** SCRAM logins that reused cached keys (the router only). */
  scramKeyHits: number;
  peakConnections: number;
  cpu: CpuSplit;
  /** Requests, and failed ones, by the tenant's placement. */
  byPlacement: Record<PlacementKind, { requests: number; failed: number }>;
  routerStats?: TenantRouterStats;
  notes: string;
}

export interface MixedReport {
  runs: MixedRun[];
  /** CPU ms of one PBKDF2 derivation of 4,096 rounds in this process. */
  pbkdf2Ms: number;
}

/**
 * The mixed fleet, Zipf over every tenant (the Zipf workload's generator and seed), from cold:
 * (a) the naive Map, then (c) the router, each alone on the server and closed before the next
 * starts. (c) runs every request as `transaction()`, the one way that works in every placement;
 * (a) queries its tenant's own DataSource, which set the tenant when it connected.
 */
export async function mixedPhase(options: {
  fleet: MixedFleet;
  concurrency: number;
  durationS: number;
  zipfS: number;
  ports: () => InMemoryTenantPorts;
  routerOptions: TenantRouterOptions;
  sampler: () => ConnectionSampler;
  postmasterPid: () => number | undefined;
  openContenders: Set<Contender>;
  log: (line: string) => void;
  signal: AbortSignal;
}): Promise<MixedReport> {
  const { fleet, signal, log } = options;
  const ids = fleet.tenants.map((t) => t.entry.id);
  const placementById = new Map(fleet.tenants.map((t) => [t.entry.id, placementOf(t)]));
  const runs: MixedRun[] = [];
  const derivationMs = pbkdf2Ms();
  for (const key of ['a', 'c'] as const) {
    signal.throwIfAborted();
    log(`mixed fleet: ${CONTENDER_LABELS[key]}`);
    const ports = options.ports();
    const router = key === 'c' ? new TenantRouterContender(ports, options.routerOptions, true) : undefined;
    const inner: Contender = router ?? new NaiveMapContender(ports, true);
    const byPlacement = Object.fromEntries(
      PLACEMENT_KINDS.map((k) => [k, { requests: 0, failed: 0 }]),
    ) as Record<PlacementKind, { requests: number; failed: number }>;
    const contender = countedByPlacement(inner, placementById, byPlacement);
    options.openContenders.add(inner);
    const pick = zipfPicker(ids.length, options.zipfS, options.concurrency);
    const sampler = options.sampler();
    const connects = connectsOpened();
    const derivations = pgScramDerivations();
    sampler.start();
    try {
      const [result, cpu] = await cpuSplitOver(options.postmasterPid(), () =>
        closedLoop({
          contender,
          concurrency: options.concurrency,
          warmupMs: 0,
          durationMs: options.durationS * 1000,
          pick: (worker) => ids[pick(worker)],
          signal,
        }),
      );
      const peaks = sampler.stop();
      const stats = router?.stats();
      runs.push({
        key,
        result,
        coldStarts: stats ? stats.coldStarts : inner.initialisations(),
        initialisations: inner.initialisations(),
        connectsOpened: connectsOpened() - connects,
        scramDerivations: pgScramDerivations() - derivations + (stats?.scramDerivations ?? 0),
        scramKeyHits: stats?.scramKeyHits ?? 0,
        peakConnections: peaks.total,
        cpu,
        byPlacement,
        routerStats: stats,
        notes: inner.notes(),
      });
      const errors = [...result.errors.values()].reduce((a, b) => a + b, 0);
      log(`  ${result.ok} ok, ${errors} errors, peak connections ${peaks.total}`);
    } finally {
      sampler.stop();
      options.openContenders.delete(inner);
      await inner
        .close()
        .catch((error: unknown) => log(`closing ${CONTENDER_LABELS[key]}: ${String(error)}`));
    }
    const left = await options.sampler().waitForNoClients(20_000);
    if (left > 0) log(`  ${left} connections still open 20 s after closing`);
  }
  return { runs, pbkdf2Ms: derivationMs };
}

/** The contender, with each request counted by its tenant's placement. */
function countedByPlacement(
  inner: Contender,
  placements: ReadonlyMap<string, PlacementKind>,
  counts: Record<PlacementKind, { requests: number; failed: number }>,
): Contender {
  return {
    key: inner.key,
    applicationName: inner.applicationName,
    request: async (tenantId) => {
      const count = counts[placements.get(tenantId) ?? 'instance'];
      count.requests++;
      try {
        await inner.request(tenantId);
      } catch (error) {
        count.failed++;
        throw error;
      }
    },
    lookup: (tenantId) => inner.lookup(tenantId),
    initialisations: () => inner.initialisations(),
    notes: () => inner.notes(),
    close: () => inner.close(),
  };
}
