import { alignedTable, ratio } from '../common/table';
import type { CallCounts } from './aws-call-counter';

/** One phase of the bench (the saga, or the bare-AWS baseline) over all its tenants. */
export interface PhaseTimings {
  tenants: number;
  wallMs: number;
  /** process.cpuUsage() (user + system) of this process during the phase. */
  cpuMs: number;
  /** Per tenant, from the phase's start (baseline) or the tenant's creation (saga) to done. */
  timeToDoneMs: number[];
  /** Per tenant, from its first call (baseline) or the saga's start (saga) to done. */
  workMs: number[];
}

export interface BenchReport {
  tenants: number;
  concurrency: number;
  where: string;
  saga: PhaseTimings;
  sagaCalls: CallCounts;
  baseline: PhaseTimings;
  baselineCalls: CallCounts;
}

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function formatReport(r: BenchReport): string {
  const { saga, baseline } = r;
  const sagaCalls = total(r.sagaCalls.calls);
  const baseCalls = total(r.baselineCalls.calls);
  const rows: [string, string, string, string][] = [
    ['', 'saga + worker', 'bare AWS calls', 'saga / baseline'],
    [
      'wall time (create → all ACTIVE)',
      seconds(saga.wallMs),
      seconds(baseline.wallMs),
      ratio(saga.wallMs, baseline.wallMs),
    ],
    ['tenants/s', rate(saga), rate(baseline), ratio(perSecond(saga), perSecond(baseline))],
    ...pair('time to ACTIVE per tenant', saga.timeToDoneMs, baseline.timeToDoneMs),
    ...pair('work per tenant', saga.workMs, baseline.workMs),
    [
      'CPU ms per tenant (this process)',
      ms(saga.cpuMs / saga.tenants),
      ms(baseline.cpuMs / baseline.tenants),
      ratio(saga.cpuMs, baseline.cpuMs),
    ],
    [
      'AWS calls per tenant',
      fixed(sagaCalls / saga.tenants),
      fixed(baseCalls / baseline.tenants),
      ratio(sagaCalls, baseCalls),
    ],
  ];

  const operations = [...new Set([...r.sagaCalls.calls.keys(), ...r.baselineCalls.calls.keys()])].sort(
    (a, b) => (r.sagaCalls.calls.get(b) ?? 0) - (r.sagaCalls.calls.get(a) ?? 0) || a.localeCompare(b),
  );
  const ops: [string, string, string, string][] = [
    ['AWS calls per tenant by operation', 'saga', '(of which errors)', 'baseline'],
    ...operations.map((op): [string, string, string, string] => {
      const failed = r.sagaCalls.failed.get(op) ?? 0;
      return [
        `  ${op}`,
        fixed((r.sagaCalls.calls.get(op) ?? 0) / saga.tenants),
        failed ? `(${fixed(failed / saga.tenants)})` : '',
        fixed((r.baselineCalls.calls.get(op) ?? 0) / baseline.tenants),
      ];
    }),
  ];

  return [
    `Silo provisioning bench: ${r.tenants} tenants (starter/pro/enterprise in turn), concurrency ${r.concurrency}`,
    `  ${r.where}`,
    '',
    alignedTable(rows),
    '',
    alignedTable(ops),
    '',
    `Saga end to end takes ${ratio(saga.wallMs, baseline.wallMs)} the time of the same tenants' bare AWS calls`,
    '(same emulator, same concurrency, measured in this run).',
    '',
    'time to ACTIVE: saga = tenant created → tenant.activated event (includes waiting in the queue);',
    "  baseline = start of the baseline → the tenant's last call returned (includes waiting for a slot).",
    "work: saga = tenant.provisioning_started → tenant.activated; baseline = the tenant's first → last call.",
    'CPU: process.cpuUsage() of this benchmark process, which hosts the worker (Nest context, BullMQ',
    '  worker, outbox relay, sagas, SDK and pg clients) plus tenant creation and a status poll every',
    '  100 ms; moto, PostgreSQL and Redis run in other processes and are not counted.',
    "AWS calls: counted per SDK send() (initialize step), so the SDK's own retries count once;",
    '  errors = calls that returned an error (e.g. GetSecretValue on a secret not created yet).',
    '',
  ].join('\n');
}

function pair(label: string, saga: number[], base: number[]): [string, string, string, string][] {
  return [50, 99].map((p): [string, string, string, string] => {
    const s = percentile(saga, p);
    const b = percentile(base, p);
    return [`${label} p${p}`, ms(s), ms(b), ratio(s, b)];
  });
}

function total(counts: ReadonlyMap<string, number>): number {
  return [...counts.values()].reduce((a, b) => a + b, 0);
}

function perSecond(p: PhaseTimings): number {
  return p.tenants / (p.wallMs / 1000);
}

function rate(p: PhaseTimings): string {
  return perSecond(p).toFixed(2);
}

function seconds(valueMs: number): string {
  return `${(valueMs / 1000).toFixed(2)} s`;
}

function ms(value: number): string {
  return value >= 10_000 ? seconds(value) : `${value.toFixed(value >= 100 ? 0 : 1)} ms`;
}

function fixed(value: number): string {
  return value.toFixed(2);
}
