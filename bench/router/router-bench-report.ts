import { cpus } from 'node:os';
import { alignedTable } from '../common/table';
import { CONTENDER_LABELS, type ContenderKey } from './contender';
import { quantile, type OverheadResult } from './measurements';
import { SUPERUSER_RESERVED_CONNECTIONS } from './private-postgres';
import { isTooManyClients, type WorkloadResult } from './workloads';

export type WorkloadKey = 'warm' | 'zipf' | 'herd';
export const WORKLOADS: readonly WorkloadKey[] = ['warm', 'zipf', 'herd'];
export const CONTENDERS: readonly ContenderKey[] = ['a', 'b', 'c', 'ref', 'ref1'];

/** One contender in one workload. */
export type Cell =
  | { kind: 'n/a'; reason: string }
  | {
      kind: 'ran';
      result: WorkloadResult;
      /** Warm workload only. */
      overhead?: OverheadResult;
      initialisations: number;
      /** Connections opened by the process while the contender ran. */
      connectsOpened: number;
      peakConnections: number;
      /** CPU time of this process (user + system) ÷ wall time while the contender ran. */
      cpuShare: number;
      heapBytes?: number;
      /** Warm workload only: queries/s of each interleaved slice, by round. */
      sliceRates?: number[];
      notes: string;
    };

export interface WorkloadSetting {
  label: string;
  maxConnections: number;
  /** What the router was given in this workload. */
  router: { maxDataSources: number; connectionBudget: number; poolSize: number };
  description: string;
}

export interface RouterBenchReport {
  date: string;
  machine: string;
  setup: string[];
  workloads: Record<WorkloadKey, WorkloadSetting>;
  cells: Map<string, Cell>;
  startHeapBytes?: number;
}

export const cellKey = (workload: WorkloadKey, contender: ContenderKey): string => `${workload}:${contender}`;

const OVERHEAD_TARGET_US = 5;
const WARM_RATIO_TARGET = 0.9;
const WARM_PER_REFERENCE_TARGET = 0.98;
const ZIPF_RATIO_TARGET = 1.5;

export function formatReport(r: RouterBenchReport): string {
  const header = [
    'workload',
    'contender',
    'queries/s',
    'p50 ms',
    'p99 ms',
    'overhead p50 µs',
    'overhead p99 µs',
    'inits',
    'conns opened',
    'peak conns',
    'bench CPU',
    'heap MB',
    'errors by SQLSTATE',
  ];
  const rows: string[][] = [header];
  const workloads = WORKLOADS.filter((w) => CONTENDERS.some((c) => r.cells.has(cellKey(w, c))));
  for (const workload of workloads) {
    let label = r.workloads[workload].label;
    for (const contender of CONTENDERS) {
      const cell = r.cells.get(cellKey(workload, contender));
      if (!cell) continue;
      rows.push([label, CONTENDER_LABELS[contender], ...figures(cell, header.length - 2)]);
      label = '';
    }
  }

  const lines: string[] = [
    `Silo router bench, ${r.date}: ${r.machine}`,
    '',
    ...r.setup,
    '',
    alignedTable(rows, (c, columns) => c < 2 || c === columns - 1),
    '',
    ...workloads.map((w) => `${r.workloads[w].label}: ${r.workloads[w].description}`),
    '',
    ...notes(r),
    '',
    ...targets(r),
    '',
  ];
  return lines.join('\n');
}

/** The cells of a row after the workload and the contender. */
function figures(cell: Cell, columns: number): string[] {
  if (cell.kind === 'n/a') return ['n/a', ...Array.from({ length: columns - 1 }, () => '')];
  const latencies = [...cell.result.latenciesMs].sort((x, y) => x - y);
  return [
    cell.result.ok ? rate(queriesPerSecond(cell.result)) : '0',
    latencies.length ? ms(quantile(latencies, 0.5)) : '–',
    latencies.length ? ms(quantile(latencies, 0.99)) : '–',
    cell.overhead ? us(cell.overhead.p50Us) : '',
    cell.overhead ? us(cell.overhead.p99Us) : '',
    String(cell.initialisations),
    String(cell.connectsOpened),
    String(cell.peakConnections),
    `${Math.round(cell.cpuShare * 100)} %`,
    cell.heapBytes === undefined ? 'n/a' : (cell.heapBytes / 2 ** 20).toFixed(1),
    errorsCell(cell.result.errors),
  ];
}

function notes(r: RouterBenchReport): string[] {
  const out: string[] = [];
  for (const workload of WORKLOADS) {
    for (const contender of CONTENDERS) {
      const cell = r.cells.get(cellKey(workload, contender));
      if (!cell) continue;
      if (cell.kind === 'n/a') {
        out.push(`${r.workloads[workload].label}, ${CONTENDER_LABELS[contender]}: n/a, ${cell.reason}`);
        continue;
      }
      const parts: string[] = [];
      if (cell.notes) parts.push(cell.notes);
      if (cell.overhead) {
        parts.push(
          `overhead batch mean ${us(cell.overhead.batchMeanUs)} µs/call, one tenant p50/p99 ` +
            `${us(cell.overhead.oneTenantP50Us)}/${us(cell.overhead.oneTenantP99Us)} µs`,
        );
      }
      if (parts.length)
        out.push(`${r.workloads[workload].label}, ${CONTENDER_LABELS[contender]}: ${parts.join('; ')}`);
      for (const [key, message] of cell.result.examples) out.push(`    ${key}: ${truncate(message, 110)}`);
    }
  }
  return out;
}

function targets(r: RouterBenchReport): string[] {
  const ran = (w: WorkloadKey, c: ContenderKey) => {
    const cell = r.cells.get(cellKey(w, c));
    return cell?.kind === 'ran' ? cell : undefined;
  };
  const lines = ['targets (ratios from this run)'];
  const verdict = (pass: boolean | undefined) => (pass === undefined ? 'n/a ' : pass ? 'PASS' : 'FAIL');
  const push = (pass: boolean | undefined, text: string) => lines.push(`  ${verdict(pass)}  ${text}`);

  const warmB = ran('warm', 'b');
  const warmC = ran('warm', 'c');
  if (warmB && warmC) {
    const ratio = queriesPerSecond(warmC.result) / queriesPerSecond(warmB.result);
    push(
      ratio >= WARM_RATIO_TARGET && warmC.result.errors.size === 0,
      `warm: (c) queries/s ÷ (b) queries/s = ${rate(queriesPerSecond(warmC.result))} ÷ ` +
        `${rate(queriesPerSecond(warmB.result))} = ${ratio.toFixed(2)}× (target ≥ ${WARM_RATIO_TARGET.toFixed(2)}×)`,
    );
    const spread = roundRatios(warmC.sliceRates, warmB.sliceRates);
    if (spread)
      lines.push(
        `        round by round, (c) ÷ (b) of the same round: ${spread.min.toFixed(2)}× to ${spread.max.toFixed(2)}×, ` +
          `median ${spread.median.toFixed(2)}× (${spread.rounds} rounds)`,
      );
    const ref = ran('warm', 'ref');
    if (ref) {
      const perRef = queriesPerSecond(warmC.result) / queriesPerSecond(ref.result);
      push(
        perRef >= WARM_PER_REFERENCE_TARGET,
        `warm: (c) queries/s ÷ pre-opened Map queries/s = ${perRef.toFixed(3)}× (target ≥ ${WARM_PER_REFERENCE_TARGET.toFixed(2)}×)`,
      );
      const refPerB = queriesPerSecond(ref.result) / queriesPerSecond(warmB.result);
      lines.push(
        `        of which the router itself: (c) ÷ pre-opened Map = ${perRef.toFixed(2)}×; one database per ` +
          `tenant without any router: pre-opened Map ÷ (b) = ${refPerB.toFixed(2)}×`,
      );
    }
    const ref1 = ran('warm', 'ref1');
    if (ref1) {
      const perB = queriesPerSecond(ref1.result) / queriesPerSecond(warmB.result);
      lines.push(
        `        and the same connections all on (b)'s ONE database, no router: ÷ (b) = ${perB.toFixed(2)}× ` +
          `(${ref1.peakConnections} backends against (b)'s ${warmB.peakConnections}, one server, ${cpus().length} cores)`,
      );
    }
  } else push(undefined, 'warm: (c) ÷ (b) queries/s: not measured');

  if (warmC?.overhead) {
    const o = warmC.overhead;
    const floor = warmB?.overhead;
    push(
      o.p99Us <= OVERHEAD_TARGET_US,
      `warm-path overhead of (c), acquire + release, p99 = ${us(o.p99Us)} µs (target ≤ ${OVERHEAD_TARGET_US} µs; ` +
        `p50 ${us(o.p50Us)} µs${floor ? `, the loop's own floor (b) p50/p99 ${us(floor.p50Us)}/${us(floor.p99Us)} µs` : ''})`,
    );
  } else push(undefined, 'warm-path overhead: not measured');

  const zipfA = ran('zipf', 'a');
  const zipfC = ran('zipf', 'c');
  if (zipfC) {
    const budget = r.workloads.zipf.router.connectionBudget;
    const c53300 = tooManyClients(zipfC.result.errors);
    const a53300 = zipfA ? tooManyClients(zipfA.result.errors) : undefined;
    const aFails = zipfA
      ? a53300! > 0 ||
        zipfA.peakConnections > r.workloads.zipf.maxConnections - SUPERUSER_RESERVED_CONNECTIONS
      : undefined;
    push(
      c53300 === 0 && zipfC.peakConnections <= budget,
      `${r.workloads.zipf.label}: (c) 53300 errors = ${c53300}, peak connections ${zipfC.peakConnections} ` +
        `(budget ${budget}, max_connections ${r.workloads.zipf.maxConnections})`,
    );
    if (zipfA) {
      const ratio = queriesPerSecond(zipfC.result) / queriesPerSecond(zipfA.result);
      const p50 = (cell: typeof zipfC) =>
        cell.result.latenciesMs.length
          ? quantile(
              [...cell.result.latenciesMs].sort((x, y) => x - y),
              0.5,
            )
          : NaN;
      push(
        ratio >= ZIPF_RATIO_TARGET && sumErrors(zipfC.result.errors) === 0,
        `${r.workloads.zipf.label}: (c) queries/s ÷ (a) successful queries/s = ${rate(queriesPerSecond(zipfC.result))} ÷ ` +
          `${rate(queriesPerSecond(zipfA.result))} = ${ratio.toFixed(2)}× (target ≥ ${ZIPF_RATIO_TARGET.toFixed(2)}×), ` +
          `(c) errors ${sumErrors(zipfC.result.errors)}, p50 (c) ${p50(zipfC).toFixed(1)} ms, (a) ${p50(zipfA).toFixed(1)} ms`,
      );
      lines.push(
        `        where (a) ${aFails ? 'fails' : 'does NOT fail'}: 53300 errors = ${a53300}, ` +
          `${sumErrors(zipfA.result.errors)} errors in all, peak connections ${zipfA.peakConnections}`,
      );
    }
  } else push(undefined, `${r.workloads.zipf.label}: not measured`);

  const herdC = ran('herd', 'c');
  if (herdC) {
    const herdA = ran('herd', 'a');
    push(
      herdC.initialisations === 1,
      `herd: (c) initialisations = ${herdC.initialisations} for ${herdC.result.ok + sumErrors(herdC.result.errors)} ` +
        `requests (target exactly 1)${herdA ? `; (a) ${herdA.initialisations}` : ''}`,
    );
  } else push(undefined, 'herd: not measured');
  return lines;
}

export function queriesPerSecond(result: WorkloadResult): number {
  return result.measuredMs > 0 ? result.ok / (result.measuredMs / 1000) : 0;
}

function tooManyClients(errors: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const [key, count] of errors) if (isTooManyClients(key)) n += count;
  return n;
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

function us(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toFixed(2);
}

function truncate(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** (c) ÷ (b) per round of the warm workload's interleaved slices: how much the ratio moves within one run. */
function roundRatios(
  c: readonly number[] | undefined,
  b: readonly number[] | undefined,
): { min: number; max: number; median: number; rounds: number } | undefined {
  if (!c || !b || c.length !== b.length || c.length < 2) return undefined;
  const ratios = c.map((rate, round) => rate / b[round]).sort((x, y) => x - y);
  return {
    min: ratios[0],
    max: ratios[ratios.length - 1],
    median: quantile(ratios, 0.5),
    rounds: ratios.length,
  };
}
