import { alignedTable, ratio } from '../common/table';
import type { CallCounts } from '../provisioning/aws-call-counter';
import { percentile } from '../provisioning/bench-report';
import { FROM_VERSION, TARGET_VERSION } from './rollout-environment';
import type { ClientCallCounts, PassTimings } from './rollout-probes';
import type { CpuSnapshot } from './proc-cpu';
import type { ServerActivity } from './server-activity';

/** One contender over all the tenants. */
export interface ContenderRun {
  tenants: number;
  /** Tenants in flight at most. */
  concurrency: number;
  wallMs: number;
  /** process.cpuUsage() (user + system) of this process while the contender ran. */
  cpuMs: number;
  /** Per tenant: raw, connect → close; rollout, each migrate-tenant pass. */
  tenantMs: number[];
  /** Per version applied, per tenant: BEGIN + the file's SQL, as the migrator times it for its ledger. */
  sqlMs: ReadonlyMap<string, readonly number[]>;
  calls: ClientCallCounts;
  activity: ServerActivity;
}

export interface RolloutBenchReport {
  tenants: number;
  concurrency: number;
  /** The rollout's waves as planned: `canary 1, wave 299`. */
  plan: string;
  /** Migration files applied, in order: version and file name. */
  files: { version: string; file: string }[];
  rollout: ContenderRun;
  passes: PassTimings;
  aws: CallCounts;
  sequential: ContenderRun;
  fanOut: ContenderRun;
  /** Lines printed above the table: where, when, set-up times. */
  context: string[];
}

const SEQUENTIAL_TARGET = 3;
const FAN_OUT_TARGET = 0.7;
const PROFILE_ROWS = 16;
const CONTEXT_WIDTH = 112;

export function formatReport(r: RolloutBenchReport): string {
  const { rollout: c, sequential: a, fanOut: b } = r;
  const perTenant = (run: ContenderRun, value: number) => value / run.tenants;
  const row = (
    label: string,
    value: (run: ContenderRun) => number,
    show: (value: number, run: ContenderRun) => string,
    ratios = false,
  ): string[] => [
    label,
    show(value(c), c),
    show(value(a), a),
    show(value(b), b),
    ratios ? ratio(value(c), value(a)) : '',
    ratios ? ratio(value(c), value(b)) : '',
  ];
  const secretCalls = total(r.aws.calls);
  const main: string[][] = [
    ['', '(c) Silo rollout', '(a) sequential raw pg', '(b) bare fan-out raw pg', '(c) ÷ (a)', '(c) ÷ (b)'],
    row('tenants in flight', (run) => run.concurrency, String),
    row('wall time (first statement → last tenant done)', (run) => run.wallMs, seconds),
    row('tenants/s', tenantsPerSecond, (v) => v.toFixed(2), true),
    row('time per tenant p50 (pass; raw: connect → close)', (run) => percentile(run.tenantMs, 50), ms),
    row('time per tenant p99', (run) => percentile(run.tenantMs, 99), ms),
    row('CPU ms per tenant, this process ((c): the worker)', (run) => perTenant(run, run.cpuMs), ms, true),
    row('  PostgreSQL, every backend', (run) => cpuPerTenant(run, 'postgresMs'), ms),
    row('  Redis', (run) => cpuPerTenant(run, 'redisMs'), ms),
    row('  moto (Secrets Manager)', (run) => cpuPerTenant(run, 'motoMs'), ms),
    row('  the rest of the machine (kernel, other users)', restOfMachine, ms),
    row('  whole machine, both cores', (run) => cpuPerTenant(run, 'machineBusyMs'), ms, true),
    row(
      'machine busy (of it iowait)',
      (run) => run.activity.cpu?.machineBusyMs ?? NaN,
      (_, run) => busyShare(run),
    ),
    row('pg connections opened per tenant', (run) => perTenant(run, run.calls.pgConnects), fixed),
    row('pg queries per tenant', (run) => perTenant(run, run.calls.pgQueries), fixed),
    row('Redis commands per tenant', (run) => perTenant(run, run.calls.redisCommands), fixed),
    ['Secrets Manager calls per tenant', fixed(secretCalls / c.tenants), fixed(0), fixed(0), '', ''],
    row('lock waits per tenant, control plane (sampled)', (run) => lockWait(run, 'control plane'), ms),
    row('lock waits per tenant, tenant databases (sampled)', (run) => lockWait(run, 'tenant'), ms),
  ];

  const bySequential = tenantsPerSecond(c) / tenantsPerSecond(a);
  const byFanOut = tenantsPerSecond(c) / tenantsPerSecond(b);
  const targets = [
    target(
      bySequential >= SEQUENTIAL_TARGET,
      `(c) tenants/s ≥ ${SEQUENTIAL_TARGET}× (a) sequential: ${rate(c)} ÷ ${rate(a)} = ${ratio(tenantsPerSecond(c), tenantsPerSecond(a))}`,
    ),
    target(
      byFanOut >= FAN_OUT_TARGET,
      `(c) tenants/s ≥ ${FAN_OUT_TARGET}× (b) bare fan-out at the same concurrency: ${rate(c)} ÷ ${rate(b)} = ${ratio(tenantsPerSecond(c), tenantsPerSecond(b))}`,
    ),
  ];

  const slot = (run: ContenderRun) => (run.concurrency * run.wallMs) / run.tenants;
  const sql = (run: ContenderRun, version: string) => sum(run.sqlMs.get(version) ?? []) / run.tenants;
  const sqlAll = (run: ContenderRun) => r.files.reduce((acc, f) => acc + sql(run, f.version), 0);
  const busy = (run: ContenderRun) => sum(run.tenantMs) / run.tenants;
  const p = r.passes;
  const mean = (values: readonly number[]) => sum(values) / c.tenants;
  const migrator = mean(p.migrator);
  const rest = busy(c) - mean(p.secretRead) - migrator - mean(p.record);
  const share = (value: number) => `${((100 * value) / slot(c)).toFixed(0)} %`;
  const split = (label: string, cValue: number | undefined, aValue?: number, bValue?: number): string[] => [
    label,
    cValue === undefined ? '' : ms(cValue),
    cValue === undefined ? '' : share(cValue),
    aValue === undefined ? '' : ms(aValue),
    bValue === undefined ? '' : ms(bValue),
  ];
  const breakdown: string[][] = [
    ['where a slot’s time goes, ms per tenant (mean)', '(c)', '(c) share', '(a)', '(b)'],
    split('slot time = tenants in flight × wall ÷ tenants', slot(c), slot(a), slot(b)),
    ...r.files.map((f) =>
      split(
        `  ${f.file} (BEGIN + the file, as the ledger times it)`,
        sql(c, f.version),
        sql(a, f.version),
        sql(b, f.version),
      ),
    ),
    split(
      '  rest of the migrator: connect, timeouts, migration lock, ledger check, read and rows, COMMIT, close',
      migrator - sqlAll(c),
    ),
    split('  raw: connect, COMMIT, close', undefined, busy(a) - sqlAll(a), busy(b) - sqlAll(b)),
    split('  master secret read (GetSecretValue, moto)', mean(p.secretRead)),
    split('  record: outcome, tenant version and event, next dispatch (one transaction)', mean(p.record)),
    split('  rest of the pass: tenant lock, rollout row, tenant and target reads', rest),
    split(
      '  between passes (outbox → relay → BullMQ → worker; canary alone; tail); raw: tail',
      slot(c) - busy(c),
      slot(a) - busy(a),
      slot(b) - busy(b),
    ),
  ];
  const overhead = slot(c) - slot(b);

  const pgTime = (run: ContenderRun) => sum([...run.calls.pgProfile.values()].map((e) => e.ms)) / run.tenants;
  const statements = [...c.calls.pgProfile].sort((x, y) => y[1].ms - x[1].ms);
  const profile: string[][] = [
    [
      `(c) pg calls by statement, per tenant (top ${PROFILE_ROWS} by time)`,
      'calls',
      'ms per call',
      'ms per tenant',
    ],
    ...statements
      .slice(0, PROFILE_ROWS)
      .map(([key, e]) => [`  ${key}`, fixed(e.calls / c.tenants), ms(e.ms / e.calls), ms(e.ms / c.tenants)]),
    [
      `  ${Math.max(0, statements.length - PROFILE_ROWS)} other statements`,
      fixed(sum(statements.slice(PROFILE_ROWS).map(([, e]) => e.calls)) / c.tenants),
      '',
      ms(sum(statements.slice(PROFILE_ROWS).map(([, e]) => e.ms)) / c.tenants),
    ],
  ];

  return [
    `Silo schema rollout bench: ${r.tenants} tenant databases from ${FROM_VERSION} to ${TARGET_VERSION} ` +
      `(${r.files.map((f) => f.file).join(', ')}), concurrency ${r.concurrency}`,
    ...r.context.flatMap((line) => wrap(line, CONTEXT_WIDTH).map((part, i) => `${i ? '    ' : '  '}${part}`)),
    '',
    alignedTable(main),
    '',
    'targets (ratios of tenants/s measured in this run)',
    ...targets,
    '',
    alignedTable(breakdown),
    '',
    `control-plane overhead: (c) − (b) slot time = ${ms(overhead)} per tenant (${share(overhead)} of (c)'s slot time); ` +
      `CPU in this process ${ms(perTenant(c, c.cpuMs) - perTenant(b, b.cpuMs))} per tenant more than (b)`,
    `  (c) made ${p.pass.length} migrate-tenant passes for ${c.tenants} tenants; rollout plan: ${r.plan}`,
    '',
    alignedTable(profile),
    `  all pg calls, call → answer, ms per tenant: (c) ${ms(pgTime(c))}, (a) ${ms(pgTime(a))}, (b) ${ms(pgTime(b))}` +
      ' (concurrent calls overlap; connect is the pg handshake, a new backend each for a tenant database)',
    `lock waits by wait_event, ms per tenant (pg_stat_activity every ${c.activity.intervalMs} ms): ` +
      [`(c) ${lockWaitEvents(c)}`, `(a) ${lockWaitEvents(a)}`, `(b) ${lockWaitEvents(b)}`].join('; '),
    '',
    '(c) SchemaRollouts.start (what POST /v1/schema-rollouts calls) with maxConcurrency = concurrency, failureThreshold 1,',
    '  no pause between waves; run by the worker in this process (outbox relay, BullMQ, migrate-tenant passes); the',
    "  bench polls the rollout's status every 50 ms on its own connection; no API is started.",
    "(a), (b): the same files with a bare pg client as each tenant's owner: BEGIN, file, COMMIT (CREATE INDEX",
    '  CONCURRENTLY alone, outside a transaction); no ledger, no lock, no timeouts, no control plane, no secret read.',
    'Each contender starts on freshly made tenant databases at 0001 (dropped and made again between contenders), after',
    '  CHECKPOINT and sync(1); each is checked afterwards (due_date, app.tags, a valid notes_due_date_idx, the ledger).',
    "wall time: (c) SchemaRollouts.start → the rollout row finished (the worker's clock); (a), (b) first connect → last close.",
    'CPU: this process by process.cpuUsage() over the contender; for (c) that is the in-process worker (Nest context,',
    "  BullMQ worker, outbox relay, passes, the migrator's pg client, the SDK client), SchemaRollouts.start, the status",
    "  poll and, for all three, the bench's pg_stat_activity sampler; there is no API in the process. PostgreSQL, Redis,",
    '  moto and the machine from /proc (10 ms ticks; PostgreSQL with the backends that ended, through the postmaster).',
    '  PostgreSQL is shared: anything else using it meanwhile counts there; the load average is printed above.',
    'lock waits: backends of the control-plane database and the tenant databases in pg_stat_activity with',
    "  wait_event_type Lock, sampled; transactionid/tuple on the control plane is a pass's record waiting for the",
    "  rollout row (SELECT … FOR UPDATE) another pass holds; pg calls: each call's time from call to answer, by statement.",
    "Breakdown: the migrator's spans are the ledger's duration_ms; the rest are wall-clock times of the pass's steps,",
    '  timed by wrapping RolloutTenantMigration#run and #record, TenantSecrets#read and TenantDatabaseAdmin#runMigrations.',
    '  Steps of concurrent passes overlap on 2 cores with PostgreSQL, Redis and moto, so a step waiting for a core counts.',
    '',
  ].join('\n');
}

/** `text` cut at spaces into lines of at most `width` characters (a longer word stays whole). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

function cpuPerTenant(run: ContenderRun, key: keyof CpuSnapshot): number {
  const cpu = run.activity.cpu;
  return cpu ? cpu[key] / run.tenants : NaN;
}

function restOfMachine(run: ContenderRun): number {
  const cpu = run.activity.cpu;
  if (!cpu) return NaN;
  return (cpu.machineBusyMs - run.cpuMs - cpu.postgresMs - cpu.redisMs - cpu.motoMs) / run.tenants;
}

function busyShare(run: ContenderRun): string {
  const cpu = run.activity.cpu;
  if (!cpu || cpu.machineTotalMs <= 0) return 'n/a';
  const share = (value: number) => `${((100 * value) / cpu.machineTotalMs).toFixed(0)} %`;
  return `${share(cpu.machineBusyMs)} (${share(cpu.machineIowaitMs)})`;
}

function lockWait(run: ContenderRun, place: string): number {
  let waited = 0;
  for (const [key, value] of run.activity.lockWaitMs) if (key.startsWith(`${place}:`)) waited += value;
  return waited / run.tenants;
}

function lockWaitEvents(run: ContenderRun): string {
  const events = [...run.activity.lockWaitMs].sort((x, y) => y[1] - x[1]);
  return events.length
    ? events.map(([key, value]) => `${key} ${ms(value / run.tenants)}`).join(', ')
    : 'none seen';
}

function tenantsPerSecond(run: ContenderRun): number {
  return run.tenants / (run.wallMs / 1000);
}

function rate(run: ContenderRun): string {
  return tenantsPerSecond(run).toFixed(2);
}

function target(met: boolean, text: string): string {
  return `  ${met ? 'met    ' : 'NOT met'}  ${text}`;
}

function sum(values: readonly number[]): number {
  return values.reduce((acc, v) => acc + v, 0);
}

function total(counts: ReadonlyMap<string, number>): number {
  return sum([...counts.values()]);
}

function seconds(valueMs: number): string {
  return `${(valueMs / 1000).toFixed(2)} s`;
}

function ms(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value >= 10_000 ? seconds(value) : `${value.toFixed(value >= 100 ? 0 : 1)} ms`;
}

function fixed(value: number): string {
  return value.toFixed(2);
}
