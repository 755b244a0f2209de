import { cpus } from 'node:os';
import { alignedTable } from '../common/table';
import { CONTENDER_LABELS } from './contender';
import { quantile } from './measurements';
import type { MixedReport } from './mixed-fleet-workload';
import { MIXED_NOTES_PER_TENANT, MIXED_POOL_HOSTS, PLACEMENT_KINDS, type MixedFleet } from './mixed-fleet';
import { queriesPerSecond } from './router-bench-report';

const MIXED_RATIO_TARGET = 3;

/** What the mixed workload was given, for its lines in the report. */
export interface MixedSetting {
  fleet: MixedFleet;
  concurrency: number;
  durationS: number;
  zipfS: number;
  maxConnections: number;
  maxDataSources: number;
  connectionBudget: number;
  poolSize: number;
  poolSizePerHost: number;
}

/** The mixed fleet's block of the report: its table, where the CPU went, notes, targets. */
export function mixedFleetLines(s: MixedSetting, r: MixedReport): string[] {
  const { fleet } = s;
  const total = fleet.tenants.length;
  const setupMs = fleet.ms.pools + fleet.ms.schemas + fleet.ms.instances;
  const lines = [
    '',
    `mixed fleet, ${total} tenants: ${fleet.counts.pool} pooled on ${MIXED_POOL_HOSTS} pool databases (rows only, ` +
      `one pool login per host), ${fleet.counts.schema} schema tenants on one schema host database (own schema and ` +
      `login each), ${fleet.counts.instance} instance tenants (own database each); ${MIXED_NOTES_PER_TENANT} notes per tenant; ` +
      `set-up ${sec(setupMs)} (pool databases ${sec(fleet.ms.pools)}, schema tenants ${sec(fleet.ms.schemas)} = ` +
      `${(fleet.ms.schemas / Math.max(1, fleet.counts.schema)).toFixed(0)} ms each, instances ${sec(fleet.ms.instances)}), ` +
      'each target by libs/tenant-schema (materialiseLocalInstance, bootstrapAppRole, migrateTenantSchema)',
    `  Zipf s=${s.zipfS} over the ${total} tenants (the Zipf workload's generator), from cold, ${s.concurrency} ` +
      `closed-loop workers, ${s.durationS} s per contender, each alone; max_connections ${s.maxConnections}; router ` +
      `maxDataSources ${s.maxDataSources}, budget ${s.connectionBudget}, pool ${s.poolSize} per schema and instance ` +
      `tenant, ${s.poolSizePerHost} per pool host (one DataSource per host), fair shares as shipped`,
    "  request: the ten newest notes, each checked to be the tenant's; (c) in router.transaction() (a pooled " +
      "tenant's set_config first), (a) on its tenant's own DataSource (search_path and app.tenant_id sent at connect, " +
      'the pool login for a pooled tenant), no transaction',
    '',
  ];
  const header = [
    'contender',
    'queries/s',
    'p50 ms',
    'p99 ms',
    'cold starts',
    'inits',
    'conns opened',
    'SCRAM derivations',
    'keys reused',
    'peak conns',
    'errors by SQLSTATE',
  ];
  const rows: string[][] = [header];
  for (const run of r.runs) {
    const latencies = [...run.result.latenciesMs].sort((x, y) => x - y);
    rows.push([
      CONTENDER_LABELS[run.key],
      rate(queriesPerSecond(run.result)),
      latencies.length ? ms(quantile(latencies, 0.5)) : '–',
      latencies.length ? ms(quantile(latencies, 0.99)) : '–',
      String(run.coldStarts),
      String(run.initialisations),
      String(run.connectsOpened),
      String(run.scramDerivations),
      String(run.scramKeyHits),
      String(run.peakConnections),
      errorsCell(run.result.errors),
    ]);
  }
  lines.push(
    alignedTable(rows, (c, columns) => c === 0 || c === columns - 1),
    '',
  );

  lines.push(
    'requests by placement (sent / failed): ' +
      r.runs
        .map(
          (run) =>
            `${CONTENDER_LABELS[run.key]} ` +
            PLACEMENT_KINDS.map(
              (k) => `${k} ${run.byPlacement[k].requests} / ${run.byPlacement[k].failed}`,
            ).join(', '),
        )
        .join('; '),
    '',
  );

  const cores = cpus().length;
  const cpuRows: string[][] = [
    [
      'where the CPU went',
      'wall s',
      'machine CPU-s',
      'bench process',
      'of which PBKDF2',
      'PostgreSQL',
      'other processes',
      'idle',
      'bench ms/query',
      'PostgreSQL ms/query',
    ],
  ];
  for (const run of r.runs) {
    const c = run.cpu;
    const pbkdf2 = run.scramDerivations * r.pbkdf2Ms;
    const others = Math.max(0, c.machineBusyMs - c.benchMs - c.postgresMs);
    const share = (x: number) => (c.machineMs > 0 ? `${((100 * x) / c.machineMs).toFixed(0)} %` : 'n/a');
    const ok = Math.max(1, run.result.ok);
    cpuRows.push([
      CONTENDER_LABELS[run.key],
      (c.wallMs / 1000).toFixed(1),
      (c.machineMs / 1000).toFixed(1),
      `${(c.benchMs / 1000).toFixed(1)} (${share(c.benchMs)})`,
      `${(pbkdf2 / 1000).toFixed(1)} (${share(pbkdf2)})`,
      `${(c.postgresMs / 1000).toFixed(1)} (${share(c.postgresMs)})`,
      `${(others / 1000).toFixed(1)} (${share(others)})`,
      share(c.machineMs - c.machineBusyMs),
      (c.benchMs / ok).toFixed(2),
      (c.postgresMs / ok).toFixed(2),
    ]);
  }
  lines.push(
    alignedTable(cpuRows, (c) => c === 0),
    `  CPU-seconds over each contender's stretch (${cores} cores × wall), from process.cpuUsage() (bench), the private ` +
      "cluster's processes in /proc (postmaster, reaped and live backends), /proc/stat (machine); other processes = " +
      'machine busy − bench − PostgreSQL; ms/query: per successful request',
    `  PBKDF2 = SCRAM derivations × ${r.pbkdf2Ms.toFixed(2)} ms, one PBKDF2-HMAC-SHA-256 of 4,096 rounds timed here ` +
      "(median of 30); part of the bench process's CPU (libuv threads)",
    ...connectionCost(r),
    '',
  );

  for (const run of r.runs) {
    lines.push(`mixed fleet, ${CONTENDER_LABELS[run.key]}: ${run.notes}`);
    for (const [key, message] of run.result.examples) lines.push(`    ${key}: ${truncate(message, 110)}`);
  }
  lines.push('', ...mixedTargets(s, r), '');
  return lines;
}

/**
 * (a)'s PostgreSQL CPU beyond its successful queries, per connection it opened, with each query
 * costed at (c)'s PostgreSQL CPU per query. (c) sends four statements a request (BEGIN,
 * set_config, the SELECT, COMMIT) where (a) sends one, so this costs (a)'s queries high and its
 * connections low: a lower bound.
 */
function connectionCost(r: MixedReport): string[] {
  const a = r.runs.find((run) => run.key === 'a');
  const c = r.runs.find((run) => run.key === 'c');
  if (!a || !c || a.connectsOpened === 0 || c.result.ok === 0) return [];
  const perQuery = c.cpu.postgresMs / c.result.ok;
  const beyond = a.cpu.postgresMs - a.result.ok * perQuery;
  return [
    `  (a)'s PostgreSQL CPU beyond its ${a.result.ok} queries (each at (c)'s ${perQuery.toFixed(2)} ms, four statements ` +
      `to (a)'s one, so a lower bound): ${(beyond / 1000).toFixed(1)} CPU-s, ${(beyond / a.connectsOpened).toFixed(1)} ms ` +
      `per connection it opened (${a.connectsOpened}, of which ${a.scramDerivations} went through SCRAM; the others were ` +
      "refused before authenticating, 53300 'sorry, too many clients already')",
  ];
}

function mixedTargets(s: MixedSetting, r: MixedReport): string[] {
  const a = r.runs.find((run) => run.key === 'a');
  const c = r.runs.find((run) => run.key === 'c');
  const lines = ['targets, mixed fleet (ratios from this run)'];
  if (!a || !c) return [...lines, '  n/a   mixed fleet: not measured'];
  const verdict = (pass: boolean) => (pass ? 'PASS' : 'FAIL');
  const qa = queriesPerSecond(a.result);
  const qc = queriesPerSecond(c.result);
  const ratio = qa > 0 ? qc / qa : Infinity;
  const cErrors = sumErrors(c.result.errors);
  lines.push(
    `  ${verdict(ratio >= MIXED_RATIO_TARGET)}  mixed fleet: (c) queries/s ÷ (a) successful queries/s = ${rate(qc)} ÷ ` +
      `${rate(qa)} = ${ratio.toFixed(2)}× (target ≥ ${MIXED_RATIO_TARGET.toFixed(2)}×); (a) errors ${sumErrors(a.result.errors)}`,
    `  ${verdict(cErrors === 0 && c.peakConnections <= s.connectionBudget)}  mixed fleet: (c) errors = ${cErrors}, ` +
      `peak connections ${c.peakConnections} (budget ${s.connectionBudget}, max_connections ${s.maxConnections}; ` +
      `the router's own peak ${c.routerStats?.peakConnections ?? 'n/a'})`,
    `        logins: (c) ${c.connectsOpened} connections, ${c.scramDerivations} SCRAM derivations, for ${c.coldStarts} cold ` +
      `starts; (a) ${a.connectsOpened} connections, ${a.scramDerivations} derivations, ${a.initialisations} initialisations`,
  );
  return lines;
}

function sumErrors(errors: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const count of errors.values()) n += count;
  return n;
}

function errorsCell(errors: ReadonlyMap<string, number>): string {
  if (errors.size === 0) return '0';
  return [...errors]
    .sort((x, y) => y[1] - x[1])
    .map(([key, count]) => `${key} ×${count}`)
    .join(', ');
}

function rate(perSecond: number): string {
  return perSecond >= 100 ? Math.round(perSecond).toString() : perSecond.toFixed(1);
}

function ms(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

function sec(value: number): string {
  return `${(value / 1000).toFixed(1)} s`;
}

function truncate(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
