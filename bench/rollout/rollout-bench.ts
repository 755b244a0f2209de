import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { TenantSecrets } from '@silo/aws';
import { loadTenantMigrations } from '@silo/tenant-schema';
import { DataSource } from 'typeorm';
import { cleanupOutcome, log, runBench } from '../common/cleanup';
import { withAdmin } from '../provisioning/bench-cleanup';
import {
  assertServicesAnswer,
  createControlPlaneDatabase,
  databaseUrl,
  emulator,
  freePort,
  repositoryRoot,
} from '../provisioning/bench-environment';
import { bootWorker } from '../provisioning/saga-run';
import {
  checkpoint,
  createBenchFleet,
  recreateFleet,
  seedNotes,
  verifyFleet,
  type LedgerRow,
} from './bench-fleet';
import { applyWithRawPg, loadSqlFiles, type SqlFile } from './raw-pg.contender';
import { parseRolloutBenchArgs, USAGE, type RolloutBenchArgs } from './rollout-bench-args';
import { cleanUpRolloutBench, type RolloutBenchResources } from './rollout-bench-cleanup';
import { formatReport, type ContenderRun } from './rollout-bench-report';
import {
  FLEET_MIGRATIONS,
  FROM_VERSION,
  POSTGRES_ADMIN_URL,
  rolloutBenchConfig,
  rolloutBenchNames,
  TARGET_VERSION,
} from './rollout-environment';
import { runSiloRollout } from './silo-rollout.contender';

/** pg_stat_activity sampling interval while a contender runs. */
const SAMPLE_MS = 20;

async function run(args: RolloutBenchArgs, res: RolloutBenchResources, signal: AbortSignal): Promise<string> {
  const date = new Date().toISOString().slice(0, 10);
  const loadAtStart = loadavg()[0];
  const { names } = res;
  log(
    `control plane ${names.database}, resource prefix ${names.resourcePrefix}, queue prefix ${names.queuePrefix}`,
  );
  await assertServicesAnswer(POSTGRES_ADMIN_URL, args.redisUrl);
  signal.throwIfAborted();

  const infraStarted = performance.now();
  res.database = names.database;
  const controlPlaneUrl = databaseUrl(POSTGRES_ADMIN_URL, names.database);
  await createControlPlaneDatabase(controlPlaneUrl);
  signal.throwIfAborted();
  const port = await freePort();
  res.emulatorPort = port;
  log(`starting the AWS emulator on 127.0.0.1:${port}`);
  await emulator(res.root, 'start', port);
  signal.throwIfAborted();

  const config = rolloutBenchConfig({
    names,
    root: res.root,
    redisUrl: args.redisUrl,
    emulatorPort: port,
    concurrency: args.concurrency,
  });
  const set = loadTenantMigrations({ dir: join(res.root, FLEET_MIGRATIONS) });
  const files = loadSqlFiles(set.location, FROM_VERSION);
  if (files.at(-1)?.version !== TARGET_VERSION) {
    throw new Error(`${set.location} should end with ${TARGET_VERSION}; it has ${set.newest}`);
  }
  res.queueUsed = true;
  const worker = await bootWorker(config);
  res.worker = worker;
  const infraMs = performance.now() - infraStarted;

  log(
    `creating ${args.tenants} tenants at ${FROM_VERSION} (database, owner role, master secret, control-plane row), ${args.setupConcurrency} at a time`,
  );
  const fleetStarted = performance.now();
  const fleet = await createBenchFleet({
    dataSource: worker.get(DataSource),
    secrets: worker.get(TenantSecrets),
    prefix: config.resources.prefix,
    count: args.tenants,
    set,
    concurrency: args.setupConcurrency,
    signal,
    log,
  });
  await seedNotes({ tenants: fleet, notes: args.notes, concurrency: args.setupConcurrency, signal });
  const fleetMs = performance.now() - fleetStarted;
  const activity = {
    controlPlaneDatabase: names.database,
    tenantDatabasePrefix: names.resourcePrefix,
    intervalMs: SAMPLE_MS,
    motoPid: emulatorPid(res.root, port),
  };
  const checkpoints: number[] = [];
  const timedCheckpoint = async () => {
    const started = performance.now();
    await checkpoint();
    checkpoints.push(performance.now() - started);
  };
  await timedCheckpoint();
  log(`fleet ready in ${seconds(fleetMs)}`);
  signal.throwIfAborted();

  log(`(c) Silo rollout: ${args.tenants} tenants to ${TARGET_VERSION}, maxConcurrency ${args.concurrency}`);
  const silo = await runSiloRollout({
    worker,
    controlPlaneUrl,
    tenants: args.tenants,
    concurrency: args.concurrency,
    canary: args.canary,
    waves: args.waves,
    activity,
    signal,
  });
  let verifyMs = 0;
  const verify = async (ledgerVersions: string[]): Promise<LedgerRow[][]> => {
    const started = performance.now();
    const ledgers = await verifyFleet({
      tenants: fleet,
      ledgerVersions,
      concurrency: args.setupConcurrency,
      signal,
    });
    verifyMs += performance.now() - started;
    return ledgers;
  };
  const ledgers = await verify([FROM_VERSION, ...files.map((f) => f.version)]);
  await assertControlPlaneAt(controlPlaneUrl, fleet.length);
  const rollout: ContenderRun = {
    ...silo.run,
    sqlMs: ledgerSpans(ledgers, `rollout:${silo.rolloutId}`, files),
  };
  // The baselines run without the worker (its relay polls the outbox every 50 ms).
  await worker.close();
  res.worker = undefined;

  const raw = async (
    label: string,
    concurrency: number,
  ): Promise<{ run: ContenderRun; remakeMs: number }> => {
    log(`re-making the ${fleet.length} tenant databases fresh at ${FROM_VERSION}`);
    const started = performance.now();
    await recreateFleet({ tenants: fleet, set, concurrency: args.setupConcurrency, signal });
    await seedNotes({ tenants: fleet, notes: args.notes, concurrency: args.setupConcurrency, signal });
    const remakeMs = performance.now() - started;
    await timedCheckpoint();
    signal.throwIfAborted();
    log(`${label}: ${fleet.length} tenants with raw pg, ${concurrency} at a time`);
    const result = await applyWithRawPg({ tenants: fleet, files, concurrency, activity, signal });
    await verify([FROM_VERSION]);
    return { run: result, remakeMs };
  };
  const sequential = await raw('(a) sequential loop', 1);
  const fanOut = await raw('(b) bare fan-out', args.concurrency);

  const server = await serverFacts();
  const loadAtEnd = loadavg()[0];
  const plan = silo.detail.rollout.plan.map((w) => `${w.kind} ${w.size}`).join(', ');
  return formatReport({
    tenants: args.tenants,
    concurrency: args.concurrency,
    plan,
    files: files.map((f) => ({ version: f.version, file: f.file })),
    rollout,
    passes: silo.passes,
    aws: silo.aws,
    sequential: sequential.run,
    fanOut: fanOut.run,
    context: [
      `${date}: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, PostgreSQL ` +
        `${server.version} at ${hostOf(POSTGRES_ADMIN_URL)} (fsync ${server.fsync}, synchronous_commit ` +
        `${server.synchronousCommit}, shared with whatever else runs there); load average ${loadAtStart.toFixed(2)} ` +
        `at the start, ${loadAtEnd.toFixed(2)} at the end`,
      `set-up, not measured: control plane ${names.database}, moto on 127.0.0.1:${port}, worker booted: ${seconds(infraMs)}; ` +
        `fleet of ${args.tenants} (createFleet of libs/fleet/test/rollout-fleet.ts: database, owner role, ` +
        `${FROM_VERSION} through the migrator, master secret, control-plane row` +
        `${args.notes ? `, ${args.notes} rows in app.notes` : ', app.notes empty'}; ${args.setupConcurrency} at a time): ` +
        `${seconds(fleetMs)} (${(fleetMs / args.tenants).toFixed(0)} ms per tenant); dropped and made again before (a) ` +
        `${seconds(sequential.remakeMs)} and (b) ${seconds(fanOut.remakeMs)}; CHECKPOINTs ` +
        `${checkpoints.map((c) => seconds(c)).join(', ')}; verification ${seconds(verifyMs)}`,
      `resource prefix ${names.resourcePrefix}, queue prefix ${names.queuePrefix}; order: (c), then (a), then (b)`,
    ],
  });
}

/** Per version, the ledger's duration_ms of the rows `appliedBy` wrote, one per tenant. */
function ledgerSpans(
  ledgers: readonly LedgerRow[][],
  appliedBy: string,
  files: readonly SqlFile[],
): Map<string, number[]> {
  const spans = new Map<string, number[]>(files.map((f) => [f.version, []]));
  for (const ledger of ledgers) {
    for (const row of ledger) if (row.appliedBy === appliedBy) spans.get(row.version)?.push(row.durationMs);
  }
  return spans;
}

async function assertControlPlaneAt(controlPlaneUrl: string, tenants: number): Promise<void> {
  await withAdmin(controlPlaneUrl, async (client) => {
    const { rows } = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM tenants WHERE schema_version = $1',
      [TARGET_VERSION],
    );
    if (rows[0].n !== tenants) {
      throw new Error(`the control plane has ${rows[0].n} of ${tenants} tenants at ${TARGET_VERSION}`);
    }
  });
}

async function serverFacts(): Promise<{ version: string; fsync: string; synchronousCommit: string }> {
  return withAdmin(POSTGRES_ADMIN_URL, async (client) => {
    const { rows } = await client.query<{ version: string; fsync: string; synchronous_commit: string }>(
      `SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync,
              current_setting('synchronous_commit') AS synchronous_commit`,
    );
    return { version: rows[0].version, fsync: rows[0].fsync, synchronousCommit: rows[0].synchronous_commit };
  });
}

/** The pid scripts/aws-emulator.sh wrote for the emulator on `port`, if it can be read. */
function emulatorPid(root: string, port: number): number | undefined {
  try {
    const pid = Number(readFileSync(join(root, '.cache', 'emulator', `moto-${port}.pid`), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function hostOf(url: string): string {
  const { hostname, port } = new URL(url);
  return `${hostname}:${port || 5432}`;
}

function seconds(valueMs: number): string {
  return `${(valueMs / 1000).toFixed(1)} s`;
}

runBench({
  usage: USAGE,
  parseArgs: parseRolloutBenchArgs,
  state: (args): RolloutBenchResources => ({
    names: rolloutBenchNames(),
    root: repositoryRoot(),
    redisUrl: args.redisUrl,
    setupConcurrency: args.setupConcurrency,
  }),
  run,
  cleanUp: async (res, code) =>
    cleanupOutcome(
      await cleanUpRolloutBench(res, { keepEmulatorLog: code !== 0, log }),
      'worker, tenant databases and roles, control-plane database, Redis keys, emulator',
      code,
    ),
  cleanupGraceMs: 900_000,
  graceExceededNote: ', something may be left behind',
  settleMs: 60_000,
  secondSignalNote: 'without finishing cleanup',
  stackOnFailure: true,
});
