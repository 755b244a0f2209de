import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { ApiBenchArgs } from './api-bench-args';
import type { RowResult } from './api-bench-report';
import { ServedRequests, type CallCounters, type CallCounts } from './call-counters';
import { runLoad, type LoadResult, type Workload } from './load-generator';
import { portOf } from './silo-api';
import { threadTime, type ThreadTime } from './thread-time';

/** A server under load, with what is needed to send it requests and count what it received. */
export interface Target {
  port: number;
  served: ServedRequests;
}

/** What every row shares. */
export interface Measure {
  counters: CallCounters;
  headers: Record<string, string>;
  args: ApiBenchArgs;
  signal: AbortSignal;
  log: (line: string) => void;
}

export function target(app: NestExpressApplication): Target {
  return { port: portOf(app), served: new ServedRequests(app.getHttpServer()) };
}

/** One row: warm-up, then the measured window, with the server side's counts over that window. */
export async function measure(
  m: Measure,
  to: Target,
  route: string,
  concurrency: number,
  workload: Workload,
  options: { baseline?: string; variant?: string } = {},
): Promise<RowResult> {
  m.signal.throwIfAborted();
  let before: ServerSide | undefined;
  const load = await runLoad(
    {
      port: to.port,
      workload,
      headers: m.headers,
      concurrency,
      warmupMs: m.args.warmupS * 1000,
      durationMs: m.args.durationS * 1000,
    },
    () => {
      before = serverSide(m, to);
    },
    m.signal,
  );
  const after = serverSide(m, to);
  const start = before ?? after;
  for (const sample of load.errorSamples) {
    m.log(`${route} c=${concurrency}: ${sample.status}: ${sample.detail.replace(/\s+/g, ' ')}`);
  }
  return {
    route,
    concurrency,
    load,
    served: after.served - start.served,
    windowMs: after.at - start.at,
    loopBusyMs: performance.eventLoopUtilization(after.loop, start.loop).active,
    thread:
      after.thread && start.thread
        ? {
            cpuMs: (after.thread.cpuNs - start.thread.cpuNs) / 1e6,
            waitMs: (after.thread.waitNs - start.thread.waitNs) / 1e6,
          }
        : undefined,
    calls: {
      pgQueries: after.calls.pgQueries - start.calls.pgQueries,
      redisCommands: after.calls.redisCommands - start.calls.redisCommands,
    },
    ...options,
  };
}

/** Load without a row: the first seconds of a route, while V8 is still optimising its code. */
export function unmeasured(
  m: Measure,
  to: Target,
  workload: Workload,
  concurrency: number,
  seconds: number,
): Promise<LoadResult> {
  return runLoad(
    { port: to.port, workload, headers: m.headers, concurrency, warmupMs: seconds * 1000, durationMs: 0 },
    () => undefined,
    m.signal,
  );
}

interface ServerSide {
  at: number;
  served: number;
  calls: CallCounts;
  loop: EventLoopUtilization;
  thread?: ThreadTime;
}

/** Taken on the main thread, which runs the servers (the load generator has its own). */
function serverSide(m: Measure, to: Target): ServerSide {
  return {
    at: performance.now(),
    served: to.served.value,
    calls: m.counters.snapshot(),
    loop: performance.eventLoopUtilization(),
    thread: threadTime(),
  };
}

export function progress(row: RowResult): string {
  const perSecond = row.load.wallMs > 0 ? row.load.requests / (row.load.wallMs / 1000) : 0;
  return (
    `${row.route}${row.variant ? ` (${row.variant})` : ''} c=${row.concurrency}: ` +
    `${row.load.requests} requests, ${perSecond.toFixed(0)} req/s, ${row.load.errors} errors`
  );
}
