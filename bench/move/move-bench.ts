import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import {
  abortTenantCopy,
  copyProgress,
  cutOverCopy,
  releaseMovedSource,
  startTenantCopy,
  tenantRowDigests,
  type CopySide,
  type TenantCopyPlan,
} from '@silo/tenant-schema';
import { log, runBench, sleep } from '../common/cleanup';
import { cutOverParts, logSince } from './cut-over-log';
import { copyTenantRows } from './dump-baseline';
import { parseMoveBenchArgs, USAGE, type MoveBenchArgs } from './move-bench-args';
import { formatMoveReport, type MoveResult, type NeighbourResult } from './move-bench-report';
import { MoveCluster } from './move-cluster';
import { lostWrites, TenantLoad, verify, type RequestRecord } from './tenant-load';

const POOL_DATABASE = 'bench_pool';
/** The saga's defaults (MOVE_FREEZE_TIMEOUT_MS, MOVE_CATCH_UP_TIMEOUT_MS). */
const FREEZE_TIMEOUT_MS = 5000;
const CATCH_UP_TIMEOUT_MS = 30_000;

interface RunState {
  cluster?: MoveCluster;
  loads: TenantLoad[];
  /** Why the run must exit non-zero although it measured: lost writes, a neighbour's failed request. */
  failures: string[];
}

async function run(args: MoveBenchArgs, state: RunState, signal: AbortSignal): Promise<string> {
  const loadAtStart = loadavg()[0];
  const cluster = await MoveCluster.start(log);
  state.cluster = cluster;
  log(`private PostgreSQL (wal_level=logical) in ${cluster.dir} on 127.0.0.1:${cluster.port}`);

  const movingId = randomUUID();
  const neighbourId = randomUUID();
  const others = Array.from({ length: args.otherTenants }, () => randomUUID());
  const seedStarted = performance.now();
  await cluster.createTenantDatabase(POOL_DATABASE, { placement: 'pool', schema: 'app' });
  await cluster.admin(POOL_DATABASE, async (client) => {
    for (const tenant of [movingId, neighbourId, ...others])
      await client.query(
        `INSERT INTO app.notes (tenant_id, text, created_at)
           SELECT $1, 'seed ' || g || ' ' || md5(g::text), now() - g * interval '1 second' FROM generate_series(1, $2) g`,
        [tenant, args.rows],
      );
    await client.query('VACUUM ANALYZE app.notes');
    await client.query('CHECKPOINT');
  });
  const poolRows = args.rows * (2 + args.otherTenants);
  log(
    `pool seeded: ${poolRows} notes of ${2 + args.otherTenants} tenants in ${seconds(performance.now() - seedStarted)}`,
  );
  signal.throwIfAborted();

  const source: CopySide = {
    endpoint: cluster.moverEndpoint(POOL_DATABASE),
    placement: 'pool',
    schema: 'app',
  };
  const neighbour = new TenantLoad('neighbour', neighbourId, args.rate);
  const moving = new TenantLoad('moving', movingId, args.rate);
  state.loads.push(neighbour, moving);
  neighbour.track(await tenantRows(cluster, POOL_DATABASE, neighbourId));
  neighbour.start(cluster.appEndpoint(POOL_DATABASE));

  const moves: MoveResult[] = [];
  for (let n = 1; n <= args.moves; n++) {
    signal.throwIfAborted();
    moves.push(await oneMove(n, args, cluster, source, moving, neighbour, signal));
    const m = moves.at(-1)!;
    log(
      `move ${n}/${args.moves}: copy ${seconds(m.copyMs)} (${m.rows} rows), write pause ${m.pauseMs.toFixed(0)} ms ` +
        `(frozen ${m.frozenForMs.toFixed(0)} ms), ${m.refused} writes refused, ${lostWrites(m.verification)} lost; ` +
        `dump ${seconds(m.dumpMs)}`,
    );
  }

  await neighbour.stop();
  const neighbourResult: NeighbourResult = {
    requests: neighbour.records.length,
    failed: neighbour.records.filter((r) => r.outcome !== 'ok').length,
    failures: neighbour.records
      .filter((r) => r.outcome !== 'ok')
      .slice(0, 3)
      .map((r) => r.error ?? ''),
    p50Ms: percentile(latencies(neighbour.records), 50),
    p99Ms: percentile(latencies(neighbour.records), 99),
    verification: verify(neighbour, await tenantRows(cluster, POOL_DATABASE, neighbourId)),
  };

  for (const m of moves) {
    if (lostWrites(m.verification))
      state.failures.push(
        `move ${m.n}: ${lostWrites(m.verification)} acknowledged writes not found once in the target`,
      );
    if (m.movingFailed)
      state.failures.push(
        `move ${m.n}: ${m.movingFailed} requests of the moving tenant failed otherwise than refused`,
      );
    if (m.refusedOutside)
      state.failures.push(`move ${m.n}: ${m.refusedOutside} writes refused outside the cut-over`);
    if (m.dumpRows !== m.rows)
      state.failures.push(`move ${m.n}: the dump copied ${m.dumpRows} of ${m.rows} rows`);
  }
  if (neighbourResult.failed)
    state.failures.push(`the neighbour had ${neighbourResult.failed} failed requests`);
  if (lostWrites(neighbourResult.verification))
    state.failures.push(`the neighbour lost ${lostWrites(neighbourResult.verification)} acknowledged writes`);

  const serverVersion = await cluster.admin('postgres', async (client) => {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return rows[0].server_version;
  });
  return formatMoveReport({
    args,
    moves,
    neighbour: neighbourResult,
    poolRows,
    machine: `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.version}, PostgreSQL ${serverVersion}`,
    load: { start: loadAtStart, end: loadavg()[0] },
    cluster: `127.0.0.1:${cluster.port}`,
  });
}

async function oneMove(
  n: number,
  args: MoveBenchArgs,
  cluster: MoveCluster,
  source: CopySide,
  moving: TenantLoad,
  neighbour: TenantLoad,
  signal: AbortSignal,
): Promise<MoveResult> {
  const tenantId = moving.tenantId;
  // The tenant's rows as they are now (its load is stopped): what both ways must deliver.
  moving.track(await tenantRows(cluster, POOL_DATABASE, tenantId));
  const rows = moving.notes.size;

  // Baseline: the tenant is down for the whole plain copy.
  const dumpDatabase = `bench_dump_${n}`;
  await cluster.createTenantDatabase(dumpDatabase, { placement: 'instance', schema: 'app', tenantId });
  const dumpMs = await copyTenantRows(
    cluster.superuserEndpoint(POOL_DATABASE),
    cluster.superuserEndpoint(dumpDatabase),
    tenantId,
  );
  const dumpRows = (await tenantRows(cluster, dumpDatabase, tenantId)).length;
  await cluster.dropDatabase(dumpDatabase);
  signal.throwIfAborted();

  const targetDatabase = `bench_target_${n}`;
  await cluster.createTenantDatabase(targetDatabase, { placement: 'instance', schema: 'app', tenantId });
  const target: CopySide = {
    endpoint: cluster.moverEndpoint(targetDatabase),
    placement: 'instance',
    schema: 'app',
  };
  const plan: TenantCopyPlan = { moveId: randomUUID(), tenantId, source, target };

  moving.start(cluster.appEndpoint(POOL_DATABASE));
  await sleep(1000);
  const windowStart = performance.now();
  const copyStarted = performance.now();
  const { tables } = await startWithRetry(plan);
  let lastErrors = 0;
  for (;;) {
    signal.throwIfAborted();
    const progress = await copyProgress(plan);
    if (progress.errors > lastErrors) {
      log(`move ${n}: the subscription reports ${progress.errors} errors (PostgreSQL retries them)`);
      lastErrors = progress.errors;
    }
    if (progress.streaming) break;
    if (performance.now() - copyStarted > 600_000)
      throw new Error(`move ${n}: the copy did not finish in 10 minutes`);
    await sleep(25);
  }
  const copyMs = performance.now() - copyStarted;
  await sleep(args.streamS * 1000);
  const lagBytes = (await copyProgress(plan)).lagBytes;

  const logOffset = cluster.logSize();
  const cutStarted = performance.now();
  const result = await cutOverCopy(plan, {
    tables,
    freezeTimeoutMs: FREEZE_TIMEOUT_MS,
    catchUpTimeoutMs: CATCH_UP_TIMEOUT_MS,
  });
  const pauseMs = performance.now() - cutStarted;
  moving.switchTo(cluster.appEndpoint(targetDatabase));
  const switchedAt = performance.now();
  await sleep(args.afterS * 1000);
  await moving.stop();
  const windowEnd = performance.now();
  const parts = cutOverParts(logSince(cluster.logPath, logOffset), POOL_DATABASE, targetDatabase);
  const verification = verify(moving, await tenantRows(cluster, targetDatabase, tenantId));
  const digestProbe = await probeDigests(cluster, source, tenantId, tables);

  // This move's requests of the moving tenant, from its load's start (1 s before the copy) to its stop.
  const mine = [...moving.records];
  const refused = mine.filter((r) => r.outcome === 'refused');
  const theirs = neighbour.records.filter((r) => r.startedAt >= windowStart && r.startedAt < windowEnd);
  moving.records.length = 0;

  // The source serves the tenant again for the next move (its rows as they were at the freeze).
  await releaseMovedSource(plan);
  await abortTenantCopy(plan);
  await cluster.dropDatabase(targetDatabase);

  return {
    n,
    rows,
    copyMs,
    lagBytes,
    pauseMs,
    frozenForMs: result.frozenForMs,
    comparedRows: result.tables.reduce((sum, t) => sum + t.rows, 0),
    parts,
    refused: refused.length,
    refusedOutside: refused.filter((r) => r.endedAt < cutStarted || r.startedAt > switchedAt).length,
    movingRequests: mine.length,
    movingFailed: mine.filter((r) => r.outcome === 'failed').length,
    movingFailures: mine
      .filter((r) => r.outcome === 'failed')
      .slice(0, 3)
      .map((r) => r.error ?? ''),
    longestWriteGapMs: longestGap(mine.filter((r) => r.kind !== 'read' && r.outcome === 'ok')),
    neighbourRequests: theirs.length,
    neighbourFailed: theirs.filter((r) => r.outcome !== 'ok').length,
    neighbourP99Ms: percentile(latencies(theirs), 99),
    verification,
    dumpMs,
    dumpRows,
    digestProbe,
  };
}

/**
 * The cut-over's digest of the tenant's rows on the source (two sums of 64-bit row hashes),
 * timed outside the freeze, beside a single sum of the same hash and a bare count (the scan
 * alone): what the digest costs over the scan; each on a connection of its own, as
 * cutOverCopy's target side is.
 */
async function probeDigests(
  cluster: MoveCluster,
  source: CopySide,
  tenantId: string,
  tables: string[],
): Promise<MoveResult['digestProbe']> {
  const timed = async (work: () => Promise<unknown>) => {
    const started = performance.now();
    await work();
    return performance.now() - started;
  };
  const query = (sql: string) => () =>
    cluster.admin(POOL_DATABASE, (client) => client.query(sql, [tenantId]));
  return {
    md5SortedMs: await timed(() => tenantRowDigests(source, tenantId, tables)),
    hashSumMs: await timed(
      query(
        'SELECT count(*)::int AS rows, sum(hashtextextended(t::text, 0)::numeric)::text AS checksum FROM app.notes t WHERE t.tenant_id = $1',
      ),
    ),
    countMs: await timed(query('SELECT count(*)::int AS rows FROM app.notes t WHERE t.tenant_id = $1')),
  };
}

/** The trigger and replica-identity changes wait at most 2 s for the pool's writers; the saga retries, so does this. */
async function startWithRetry(plan: TenantCopyPlan): Promise<{ tables: string[] }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startTenantCopy(plan);
    } catch (error) {
      if ((error as { code?: string }).code !== '55P03' || attempt >= 5) throw error;
      log(`startTenantCopy: lock timeout (attempt ${attempt}), again`);
    }
  }
}

function tenantRows(cluster: MoveCluster, database: string, tenantId: string) {
  return cluster.admin(database, async (client) => {
    const { rows } = await client.query<{ id: string; text: string }>(
      'SELECT id::text AS id, text FROM app.notes WHERE tenant_id = $1',
      [tenantId],
    );
    return rows;
  });
}

/** The longest time between two acknowledged writes in a row: the pause as the tenant felt it. */
function longestGap(records: RequestRecord[]): number {
  const ends = records.map((r) => r.endedAt).sort((a, b) => a - b);
  let longest = 0;
  for (let i = 1; i < ends.length; i++) longest = Math.max(longest, ends[i] - ends[i - 1]);
  return longest;
}

const latencies = (records: RequestRecord[]) => records.map((r) => r.endedAt - r.startedAt);

/** Nearest-rank percentile; NaN of nothing. */
export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

async function cleanUp(state: RunState, code: number): Promise<number> {
  await Promise.race([Promise.all(state.loads.map((l) => l.stop().catch(() => undefined))), sleep(10_000)]);
  if (state.cluster) {
    try {
      state.cluster.remove();
      log('cleanup: private cluster stopped and its directory removed');
    } catch (error) {
      log(
        `cleanup: removing ${state.cluster.dir}: ${error instanceof Error ? error.message : String(error)}`,
      );
      code = 1;
    }
  }
  for (const failure of state.failures) log(`FAILED: ${failure}`);
  return state.failures.length ? 1 : code;
}

runBench({
  usage: USAGE,
  parseArgs: parseMoveBenchArgs,
  state: (): RunState => {
    const state: RunState = { loads: [], failures: [] };
    // Last resort for any way out that skips cleanup: no server and no data directory stay behind.
    process.on('exit', () => state.cluster?.remove());
    return state;
  },
  run,
  cleanUp,
  cleanupGraceMs: 60_000,
  graceExceededNote: '',
  settleMs: 15_000,
  secondSignalNote: '(the private cluster is removed on exit)',
  stackOnFailure: true,
});
