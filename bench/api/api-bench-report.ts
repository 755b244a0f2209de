import { alignedTable, ratio } from '../common/table';
import { percentile } from '../provisioning/bench-report';
import type { CallCounts } from './call-counters';
import type { LoadResult } from './load-generator';

/** One measured row: a route of one app at one concurrency. */
export interface RowResult {
  /** `POST /v1/tenants`, `GET /bare`… */
  route: string;
  /** What differs from the main rows, if anything: `access log off`, `Idempotency-Key`. */
  variant?: string;
  /** The bare route this row is compared with; none for the bare rows themselves. */
  baseline?: string;
  concurrency: number;
  load: LoadResult;
  /** Requests the server received while the row was measured. */
  served: number;
  /** The measured window as the main thread (the servers) saw it. */
  windowMs: number;
  /** Event-loop active time of the main thread over the window. */
  loopBusyMs: number;
  /** The main thread's time on a core, and waiting for one, over the window (Linux only). */
  thread?: { cpuMs: number; waitMs: number };
  /** Calls this process sent while the row was measured. */
  calls: CallCounts;
}

export interface ApiBenchFacts {
  date: string;
  /** 1-minute load average when the run started and when it ended. */
  loadBefore: number;
  loadAfter: number;
  machine: string;
  node: string;
  postgres: string;
  redis: string;
  api: string;
  jitWarmupS: number;
  warmupS: number;
  durationS: number;
  /** What the run left in the control plane: tenants and outbox rows, before the database is dropped. */
  written: { tenants: number; outbox: number };
}

type Cells = string[];

export function formatApiReport(facts: ApiBenchFacts, rows: readonly RowResult[]): string {
  const find = (route: string, concurrency: number) =>
    rows.find((r) => r.route === route && r.concurrency === concurrency && !r.variant);

  const main: Cells[] = [
    ['route', 'conc', 'requests', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'req/s vs bare', 'p50 vs bare'],
    ...rows.map((r): Cells => {
      const base = r.baseline ? find(r.baseline, r.concurrency) : undefined;
      const p50 = p50Of(r);
      return [
        label(r),
        String(r.concurrency),
        String(r.load.requests),
        fixed(perSecond(r), 0),
        ms(p50),
        ms(percentile(Array.from(r.load.latenciesMs), 99)),
        String(r.load.errors),
        base ? ratio(perSecond(r), perSecond(base)) : '',
        base ? ratio(p50, p50Of(base)) : '',
      ];
    }),
  ];

  const costs: Cells[] = [
    [
      'server main thread',
      'conc',
      'loop busy',
      'on a core',
      'waiting for a core',
      'CPU ms/req',
      'pg queries/req',
      'Redis cmds/req',
    ],
    ...rows.map((r): Cells => [
      label(r),
      String(r.concurrency),
      percent(r.loopBusyMs, r.windowMs),
      r.thread ? percent(r.thread.cpuMs, r.windowMs) : 'n/a',
      r.thread ? percent(r.thread.waitMs, r.windowMs) : 'n/a',
      r.thread ? fixed(per(r.thread.cpuMs, r.served), 3) : 'n/a',
      fixed(per(r.calls.pgQueries, r.served), 2),
      fixed(per(r.calls.redisCommands, r.served), 2),
    ]),
  ];

  const top = Math.max(...rows.map((r) => r.concurrency));
  const headline = ['POST /v1/tenants', 'GET /v1/tenants/{id}'].flatMap((route) => {
    const row = find(route, top);
    const base = row?.baseline ? find(row.baseline, top) : undefined;
    if (!row || !base) return [];
    return [
      `  ${route} at concurrency ${top}: ${ratio(perSecond(row), perSecond(base))} the requests/s of ` +
        `${base.route}, p50 ${ratio(p50Of(row), p50Of(base))} as long`,
    ];
  });

  return [
    `Silo API bench, ${facts.date}: ${facts.machine}, Node ${facts.node}`,
    `  load average (1 min) ${facts.loadBefore.toFixed(2)} at the start, ${facts.loadAfter.toFixed(2)} at the end`,
    `  ${facts.postgres}`,
    `  ${facts.redis}`,
    `  API: ${facts.api}`,
    '  bare: one Nest controller on platform-express (GET /bare answers a small JSON object, POST /bare',
    '    echoes the JSON body), Nest defaults: no guards, filters, logging or database',
    '  load: closed loop, one keep-alive connection per request in flight, from a worker thread of this',
    '    process; the same request bodies and Authorization header go to the bare app',
    `  time: ${facts.jitWarmupS} s per route and server before the first row (not measured), then per row`,
    `    ${facts.warmupS} s warm-up and ${facts.durationS} s measured`,
    '',
    alignedTable(main),
    '',
    alignedTable(costs),
    '',
    'Measured in this run, against the bare routes at the same concurrency:',
    ...headline,
    '',
    "req/s vs bare: the row's req/s ÷ the bare route's (GET → GET /bare, POST → POST /bare);",
    "  p50 vs bare: the row's p50 ÷ the bare route's p50.",
    'requests: started in the measured window and answered; req/s = requests ÷ (window start → last',
    '  answer). errors: non-2xx answers and connection errors among them.',
    'server main thread: the thread that runs the API and the bare app (the load generator has its own),',
    '  over the measured window. loop busy: event-loop utilisation (counts time descheduled inside a',
    "  callback); on a core / waiting for a core: the thread's run time and run-queue wait from",
    '  /proc/thread-self/schedstat; CPU ms/req: its run time ÷ requests the server received.',
    "pg queries, Redis cmds: calls sent by this process's pg and ioredis clients while the row ran, per",
    '  request received. PostgreSQL, Redis and the load generator share the machine with the API.',
    `No worker runs: tenants stay PENDING and the outbox fills (${facts.written.tenants} tenants and ` +
      `${facts.written.outbox} outbox rows at the end of this run).`,
    '',
  ].join('\n');
}

function label(r: RowResult): string {
  return r.variant ? `${r.route} (${r.variant})` : r.route;
}

function p50Of(r: RowResult): number {
  return percentile(Array.from(r.load.latenciesMs), 50);
}

function percent(part: number, whole: number): string {
  return whole > 0 ? `${((part / whole) * 100).toFixed(0)} %` : 'n/a';
}

function perSecond(r: RowResult): number {
  return r.load.wallMs > 0 ? r.load.requests / (r.load.wallMs / 1000) : NaN;
}

function per(value: number, requests: number): number {
  return requests > 0 ? value / requests : NaN;
}

function ms(value: number): string {
  return value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2);
}

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}
