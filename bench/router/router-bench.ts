import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import type { TenantRouterOptions } from '@silo/tenant-router';
import { NoteEntity } from '@silo/tenant-schema';
import type { Contender, ContenderKey } from './contender';
import { InMemoryTenantPorts } from './in-memory-ports';
import { ConnectionSampler, heapAfterGc } from './measurements';
import { NaiveMapContender } from './naive-map.contender';
import { PreOpenedMapContender } from './pre-opened-map.contender';
import { PrivatePostgres, SUPERUSER, SUPERUSER_RESERVED_CONNECTIONS } from './private-postgres';
import { log, runBench, sleep } from '../common/cleanup';
import { parseRouterBenchArgs, USAGE, type RouterBenchArgs } from './router-bench-args';
import { herdPhase, warmNaivePhase, warmPhase, zipfPhase, type PhaseContext } from './router-bench-phases';
import {
  formatReport,
  type Cell,
  type RouterBenchReport,
  type WorkloadKey,
  type WorkloadSetting,
} from './router-bench-report';
import { SharedDataSourceContender } from './shared-data-source.contender';
import {
  createFleet,
  NOTES_PER_TENANT,
  SHARED_DATABASE,
  withSuperuser,
  type FleetSetup,
} from './tenant-fleet';
import { TenantRouterContender } from './tenant-router.contender';
import { noisyNeighbour, noisyNeighbourLines } from './noisy-neighbour';
import { describeFairShares, shippedFairShares } from './shipped-fair-shares';
import { zipfTopShare } from './workloads';
import { createMixedFleet, type MixedFleet } from './mixed-fleet';
import { mixedFleetLines } from './mixed-fleet-report';
import { mixedPhase } from './mixed-fleet-workload';

/** pg's default pool size: what (a) gets per tenant. */
const NAIVE_POOL_SIZE = 10;

/** What is open now, so that an interrupted run can close it. */
interface RunState {
  server?: PrivatePostgres;
  sampler?: ConnectionSampler;
  contenders: Set<Contender>;
}

async function run(args: RouterBenchArgs, state: RunState, signal: AbortSignal): Promise<string> {
  const date = new Date().toISOString().slice(0, 10);
  const loadAtStart = loadavg()[0];
  const server = await PrivatePostgres.create(log);
  state.server = server;
  log(`private PostgreSQL in ${server.dir} on 127.0.0.1:${server.port}`);
  await server.start({ maxConnections: args.maxConnections });
  signal.throwIfAborted();

  // The instance fleet serves every workload but the mixed one, which has its own.
  const fleet: FleetSetup = args.workloads.some((w) => w !== 'mixed')
    ? await createFleet({
        port: server.port,
        tenants: args.tenants,
        concurrency: args.setupConcurrency,
        log,
        signal,
      })
    : { tenants: [], templateMs: 0, databasesMs: 0, diskBytes: 0 };
  let mixedFleet: MixedFleet | undefined;
  if (args.workloads.includes('mixed')) {
    mixedFleet = await createMixedFleet({
      port: server.port,
      tenants: args.mixedTenants,
      concurrency: args.setupConcurrency,
      log,
      signal,
    });
  }
  // fsync is off: without this the kernel writes the new databases out during the measurements.
  const flushStarted = performance.now();
  await withSuperuser(server.port, 'postgres', (client) => client.query('CHECKPOINT'));
  await flushToDisk();
  const flushMs = performance.now() - flushStarted;
  log(
    `fleet ready (written out in ${seconds(flushMs)}): template ${seconds(fleet.templateMs)}, ${fleet.tenants.length} databases and roles ${seconds(fleet.databasesMs)}` +
      (mixedFleet
        ? `, mixed fleet ${seconds(mixedFleet.ms.pools + mixedFleet.ms.schemas + mixedFleet.ms.instances)}`
        : ''),
  );
  const serverVersion = await withSuperuser(server.port, 'postgres', async (client) => {
    const result = await client.query<{ server_version: string }>('SHOW server_version');
    return result.rows[0].server_version;
  });

  const ids = fleet.tenants.map((t) => t.entry.id);
  const warmIds = ids.slice(0, args.warmTenants);
  // Room for (a)'s pools alone, and for the group of (b), (c) and the two references together.
  const warmMaxConnections = Math.max(
    args.maxConnections,
    Math.max(args.warmTenants * NAIVE_POOL_SIZE, args.concurrency + 3 * args.warmTenants * args.poolSize) +
      SUPERUSER_RESERVED_CONNECTIONS +
      10,
  );
  // The Zipf and herd workloads give the router the same limits.
  const coldRouter: WorkloadSetting['router'] = {
    maxDataSources: args.maxDataSources,
    connectionBudget: args.connectionBudget,
    poolSize: args.poolSize,
  };
  const workloads: Record<WorkloadKey, WorkloadSetting> = {
    warm: {
      label: `warm, ${args.warmTenants} tenants`,
      maxConnections: warmMaxConnections,
      router: {
        maxDataSources: args.warmTenants,
        connectionBudget: args.warmTenants * args.poolSize,
        poolSize: args.poolSize,
      },
      description:
        `uniform over ${args.warmTenants} tenants; (b), (c) and the two references open together, each warmed (every ` +
        `tenant once, then ${args.warmupS} s), then measured ${args.durationS} s each in ${args.rounds} interleaved ` +
        `slices, in an order where each follows each other equally often; (a) alone afterwards (${args.warmupS} s + ${args.durationS} s); max_connections ${warmMaxConnections} (room for (a)'s pools of ` +
        `${NAIVE_POOL_SIZE}); router sized to hold them all: maxDataSources ${args.warmTenants}, ` +
        `budget ${args.warmTenants * args.poolSize}, pool ${args.poolSize}`,
    },
    zipf: {
      label: `Zipf, ${args.tenants} tenants`,
      maxConnections: args.maxConnections,
      router: coldRouter,
      description:
        `Zipf s=${args.zipfS} over ${args.tenants} tenant databases (the ${args.maxDataSources} most popular ` +
        `get ${(100 * zipfTopShare(args.tenants, args.zipfS, args.maxDataSources)).toFixed(0)} % of requests), ` +
        `from cold, ${args.durationS} s measured; max_connections ${args.maxConnections}; router ` +
        `maxDataSources ${args.maxDataSources}, budget ${args.connectionBudget}, pool ${args.poolSize}`,
    },
    herd: {
      label: `herd, ${args.herd} requests`,
      maxConnections: args.maxConnections,
      router: coldRouter,
      description:
        `${args.herd} requests for one cold tenant sent in the same tick (a fresh contender, a tenant not ` +
        `touched before); queries/s = answered ÷ (first send → last answer); max_connections ` +
        `${args.maxConnections}, router as in the Zipf workload`,
    },
  };

  const cells = new Map<string, Cell>();
  const startHeapBytes = await heapAfterGc();
  const portsFor = () => new InMemoryTenantPorts(fleet.tenants, args.lookupMs);
  const open = async (workload: WorkloadKey, key: ContenderKey): Promise<Contender> => {
    switch (key) {
      case 'a':
        return new NaiveMapContender(portsFor());
      case 'b':
        return SharedDataSourceContender.open({
          port: server.port,
          database: SHARED_DATABASE,
          poolSize: args.concurrency,
        });
      case 'c':
        return new TenantRouterContender(portsFor(), routerOptionsFor(workloads[workload].router));
      case 'ref':
        return PreOpenedMapContender.open(portsFor(), warmIds, args.poolSize);
      case 'ref1':
        return PreOpenedMapContender.open(portsFor(), warmIds, args.poolSize, {
          database: SHARED_DATABASE,
          username: SUPERUSER,
        });
    }
  };
  const ctx: PhaseContext = {
    args,
    ids,
    warmIds,
    cells,
    sampler: () => {
      if (!state.sampler) throw new Error('the connection sampler is not open');
      return state.sampler;
    },
    open,
    openContenders: state.contenders,
    log,
    signal,
  };
  const restart = async (maxConnections: number): Promise<void> => {
    await state.sampler?.close();
    state.sampler = undefined;
    log(`restarting PostgreSQL with max_connections ${maxConnections}`);
    await server.start({ maxConnections });
    state.sampler = await ConnectionSampler.open(server.port);
  };

  if (args.workloads.includes('warm')) {
    await restart(warmMaxConnections);
    await warmPhase(ctx);
    await warmNaivePhase(ctx);
  }
  if (['zipf', 'herd', 'noisy', 'mixed'].some((w) => args.workloads.includes(w as 'zipf')))
    await restart(args.maxConnections);
  if (args.workloads.includes('zipf')) await zipfPhase(ctx);
  if (args.workloads.includes('herd')) await herdPhase(ctx);
  let noisy: string[] = [];
  if (args.workloads.includes('noisy')) {
    // The quiet tenants and the noisy one come from beyond the warm tenants and the herds' ones.
    const pool = ids.slice(args.warmTenants, ids.length - 3);
    const result = await noisyNeighbour({
      ports: portsFor,
      routerOptions: routerOptionsFor(coldRouter),
      quietIds: pool.slice(0, NOISY_QUIET_TENANTS),
      noisyId: pool[NOISY_QUIET_TENANTS],
      perQuiet: NOISY_WORKERS_PER_QUIET_TENANT,
      durationS: args.durationS,
      log,
      signal,
    });
    noisy = [...noisyNeighbourLines(result), ''];
  }
  let mixed: string[] = [];
  if (mixedFleet) {
    const routerOptions = { ...routerOptionsFor(coldRouter), poolSizePerHost: args.poolSizePerHost };
    const result = await mixedPhase({
      fleet: mixedFleet,
      concurrency: args.concurrency,
      durationS: args.durationS,
      zipfS: args.zipfS,
      ports: () => new InMemoryTenantPorts(mixedFleet.tenants, args.lookupMs),
      routerOptions,
      sampler: ctx.sampler,
      postmasterPid: () => server.postmasterPid(),
      openContenders: state.contenders,
      log,
      signal,
    });
    mixed = mixedFleetLines(
      {
        fleet: mixedFleet,
        concurrency: args.concurrency,
        durationS: args.durationS,
        zipfS: args.zipfS,
        maxConnections: args.maxConnections,
        maxDataSources: args.maxDataSources,
        connectionBudget: args.connectionBudget,
        poolSize: args.poolSize,
        poolSizePerHost: args.poolSizePerHost,
      },
      result,
    );
  }

  const cpu = cpus();
  const report: RouterBenchReport = {
    date,
    machine:
      `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}, PostgreSQL ${serverVersion}, ` +
      `load average ${loadAtStart.toFixed(2)} at the start, ${loadavg()[0].toFixed(2)} at the end`,
    setup: setupLines(args, server, fleet, flushMs, startHeapBytes),
    workloads,
    cells,
    startHeapBytes,
  };
  return formatReport(report) + noisy.join('\n') + mixed.join('\n');
}

/** The noisy-neighbour workload: ten quiet tenants with two workers each; the noisy one has 40. */
const NOISY_QUIET_TENANTS = 10;
const NOISY_WORKERS_PER_QUIET_TENANT = 2;

/** The router as each workload runs it: the workload's limits, and the fair shares Silo ships. */
function routerOptionsFor(limits: WorkloadSetting['router']): TenantRouterOptions {
  const pool = limits.poolSize;
  return {
    ...shippedFairShares(),
    entities: [NoteEntity],
    maxDataSources: limits.maxDataSources,
    connectionBudget: limits.connectionBudget,
    poolSizeByTier: { starter: pool, pro: pool, enterprise: pool },
    idleTimeoutMs: 60_000,
    connectionTimeoutMs: 5_000,
    statusTtlMs: 60_000,
    secretTtlMs: 300_000,
    failureBackoffMs: 1_000,
    ssl: false,
  };
}

function setupLines(
  args: RouterBenchArgs,
  server: PrivatePostgres,
  fleet: FleetSetup,
  flushMs: number,
  startHeapBytes: number | undefined,
): string[] {
  const perDatabase = fleet.databasesMs / args.tenants;
  return [
    `PostgreSQL: a private throwaway cluster on 127.0.0.1:${server.port} (${server.dir}), fsync=off, ` +
      'synchronous_commit=off, full_page_writes=off, autovacuum=off, shared_buffers=64MB; trust for the ' +
      'superuser, SCRAM-SHA-256 for tenant roles; superuser_reserved_connections ' +
      `${SUPERUSER_RESERVED_CONNECTIONS} (the connection sampler uses one)`,
    `fleet: ${args.tenants} tenant databases copied from a template (app.notes by libs/tenant-schema's ` +
      `migrations), ${NOTES_PER_TENANT} notes of the tenant each, one login role with its own password per tenant, CONNECT on its ` +
      `database only; set-up ${seconds(fleet.templateMs + fleet.databasesMs)} (template ${seconds(fleet.templateMs)}, ` +
      `databases and roles ${seconds(fleet.databasesMs)} = ${perDatabase.toFixed(1)} ms each, ${args.setupConcurrency} ` +
      `at a time), ${(fleet.diskBytes / 2 ** 30).toFixed(1)} GiB on disk, then CHECKPOINT and sync(1) so that ` +
      `writeback does not overlap the measurements (${seconds(flushMs)}); all removed with the cluster at the end`,
    `router, every workload: ${describeFairShares(shippedFairShares())}`,
    'request: the tenant NoteEntity repository, find({select: id, text, order: id DESC, take: 10}) ' +
      '= SELECT id, text FROM notes ORDER BY id DESC LIMIT 10, search_path app and app.tenant_id (row-level security) ' +
      `sent at connect; ${args.concurrency} closed-loop workers; ` +
      `in-memory directory and secret lookups take ${args.lookupMs} ms each`,
    '(a) naive Map: a DataSource per tenant built on first use, no single flight, no eviction, pg pool 10; ' +
      `(b) ONE DataSource on ONE database (${SHARED_DATABASE}) as the superuser, pool ${args.concurrency}: ` +
      'every tenant reads the same database, no isolation, the upper bound; (c) TenantRouter.run()',
    'queries/s: successful requests ÷ measured time; p50/p99 ms: successful requests, send → answer; ' +
      'overhead: the lookup alone (acquire + release for (c)) on the warm tenants in a loop, no I/O, per-call ' +
      'hrtime samples; inits: DataSource initialisations started; conns opened: pg Client#connect calls of this ' +
      'process; peak conns: client backends in pg_stat_activity sampled every 50 ms (warm group: by ' +
      'application_name); bench CPU: this process, user + system ÷ wall; heap MB: heapUsed after global.gc() ' +
      'with the contender open (after its run; warm group: opened and warmed) minus before it was opened ' +
      `(${startHeapBytes === undefined ? 'run node with --expose-gc' : `${(startHeapBytes / 2 ** 20).toFixed(1)} MB before any`})`,
  ];
}

/** sync(1): waits until the kernel has written every dirty page out. */
function flushToDisk(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('sync', [], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`sync exited with ${code}`))));
  });
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

async function cleanUp(state: RunState): Promise<void> {
  const closing = [...state.contenders].map((contender) => contender.close().catch(() => undefined));
  await Promise.race([Promise.all(closing), sleep(10_000)]);
  await state.sampler?.close();
  const server = state.server;
  if (!server) return;
  const started = performance.now();
  try {
    server.remove();
    log(
      `cleanup: private cluster stopped and its directory removed in ${seconds(performance.now() - started)}`,
    );
  } catch (error) {
    log(`cleanup: removing ${server.dir}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

runBench({
  usage: USAGE,
  parseArgs: parseRouterBenchArgs,
  state: (): RunState => {
    const state: RunState = { contenders: new Set() };
    // Last resort for any way out that skips cleanup: no server and no data directory stay behind.
    process.on('exit', () => state.server?.remove());
    return state;
  },
  run,
  cleanUp: async (state, code) => {
    await cleanUp(state);
    return code;
  },
  cleanupGraceMs: 180_000,
  graceExceededNote: '',
  settleMs: 30_000,
  secondSignalNote: '(the private cluster is removed on exit)',
  stackOnFailure: true,
});
