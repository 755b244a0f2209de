import { Client } from 'pg';
import type { Contender } from './contender';
import { SUPERUSER } from './private-postgres';

const CLIENT_BACKENDS = `SELECT application_name AS app, count(*)::int AS n FROM pg_stat_activity
  WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 1`;

/** Highest counts seen since start(). */
export interface ConnectionPeaks {
  /** Every client connection but the sampler's. */
  total: number;
  /** By application_name (a connection still authenticating has none yet). */
  byApplication: ReadonlyMap<string, number>;
}

/**
 * Samples the server's client connections (pg_stat_activity, client backends, itself left out)
 * every `intervalMs` on its own superuser connection, which gets in through the slots
 * superuser_reserved_connections keeps when other roles have used up the rest.
 */
export class ConnectionSampler {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private total = 0;
  private byApplication = new Map<string, number>();

  private constructor(private readonly client: Client) {}

  static async open(port: number): Promise<ConnectionSampler> {
    const client = new Client({
      host: '127.0.0.1',
      port,
      database: 'postgres',
      user: SUPERUSER,
      connectionTimeoutMillis: 10_000,
      application_name: 'bench-sampler',
    });
    client.on('error', () => undefined);
    await client.connect();
    return new ConnectionSampler(client);
  }

  /** Client connections now, besides this one, by application_name. */
  async count(): Promise<Map<string, number>> {
    const result = await this.client.query<{ app: string | null; n: number }>(CLIENT_BACKENDS);
    return new Map(result.rows.map((row) => [row.app ?? '', row.n]));
  }

  /** Starts new peaks. */
  start(intervalMs = 50): void {
    this.stop();
    this.total = 0;
    this.byApplication = new Map();
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      this.count().then(
        (counts) => {
          let total = 0;
          for (const [app, n] of counts) {
            total += n;
            if (n > (this.byApplication.get(app) ?? 0)) this.byApplication.set(app, n);
          }
          if (total > this.total) this.total = total;
          this.busy = false;
        },
        () => (this.busy = false),
      );
    }, intervalMs);
  }

  /** Stops sampling; the peaks since start(). */
  stop(): ConnectionPeaks {
    clearInterval(this.timer);
    this.timer = undefined;
    return { total: this.total, byApplication: new Map(this.byApplication) };
  }

  /** Waits until no other client is connected (backends exit a moment after their socket closes). */
  async waitForNoClients(timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    const connected = async () => [...(await this.count()).values()].reduce((a, b) => a + b, 0);
    let n = await connected();
    while (n > 0 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      n = await connected();
    }
    return n;
  }

  async close(): Promise<void> {
    this.stop();
    await this.client.end().catch(() => undefined);
  }
}

/** Connections opened, CPU time and wall time of this process over one or more stretches. */
export class ProcessTally {
  connects = 0;
  cpuMs = 0;
  wallMs = 0;

  async over<T>(work: () => Promise<T>): Promise<T> {
    const connects = connectsOpened();
    const cpu = process.cpuUsage();
    const started = performance.now();
    try {
      return await work();
    } finally {
      const used = process.cpuUsage(cpu);
      this.cpuMs += (used.user + used.system) / 1000;
      this.wallMs += performance.now() - started;
      this.connects += connectsOpened() - connects;
    }
  }

  get cpuShare(): number {
    return this.wallMs > 0 ? this.cpuMs / this.wallMs : 0;
  }
}

export interface OverheadResult {
  /** Per-call samples, µs. */
  p50Us: number;
  p99Us: number;
  /** Mean per call over batches of BATCH calls (median batch), µs: no per-call timer in it. */
  batchMeanUs: number;
  /** The same per-call loop for one tenant only. */
  oneTenantP50Us: number;
  oneTenantP99Us: number;
}

const BATCH = 1000;

/**
 * The time of `contender.lookup()` (for the router: acquire + release) on cached tenants, in a
 * loop with no I/O. Per call: process.hrtime.bigint() before and after each awaited call, over
 * `iterations` calls cycling through `tenantIds`; the samples include the timer and the loop's
 * own async call and await, which contender (b)'s figure (a lookup that returns at once) shows.
 * Batch: the same loop timed per BATCH calls, so timer resolution and its cost drop out.
 */
export async function measureOverhead(
  contender: Contender,
  tenantIds: readonly string[],
  iterations: number,
): Promise<OverheadResult> {
  // Untimed: let V8 optimise the loop and the lookup first.
  await perCall(contender, tenantIds, Math.min(iterations, 50_000));
  const cycling = await perCall(contender, tenantIds, iterations);
  const one = await perCall(contender, tenantIds.slice(0, 1), Math.max(BATCH, Math.floor(iterations / 2)));

  const batches = Math.max(1, Math.floor(iterations / BATCH));
  const batchMeans = new Float64Array(batches);
  const n = tenantIds.length;
  let k = 0;
  for (let b = 0; b < batches; b++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) await contender.lookup(tenantIds[k++ % n]);
    batchMeans[b] = Number(process.hrtime.bigint() - started) / BATCH / 1000;
  }
  batchMeans.sort();
  return {
    p50Us: quantile(cycling, 0.5),
    p99Us: quantile(cycling, 0.99),
    batchMeanUs: quantile(batchMeans, 0.5),
    oneTenantP50Us: quantile(one, 0.5),
    oneTenantP99Us: quantile(one, 0.99),
  };
}

/** Sorted per-call samples, µs. */
async function perCall(
  contender: Contender,
  tenantIds: readonly string[],
  iterations: number,
): Promise<Float64Array> {
  const samples = new Float64Array(iterations);
  const n = tenantIds.length;
  for (let i = 0; i < iterations; i++) {
    const tenantId = tenantIds[i % n];
    const started = process.hrtime.bigint();
    await contender.lookup(tenantId);
    samples[i] = Number(process.hrtime.bigint() - started) / 1000;
  }
  return samples.sort();
}

/** Nearest-rank quantile of sorted values. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * heapUsed after full collections (node --expose-gc), or undefined without gc. Three rounds with
 * a turn of the event loop between them: objects held by weak callbacks (sockets, buffers) are
 * freed only by the collection after their callbacks ran.
 */
export async function heapAfterGc(): Promise<number | undefined> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return undefined;
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  gc();
  return process.memoryUsage().heapUsed;
}

let openedSoFar = 0;
let connectCounting = false;

/**
 * Connections this process has opened so far (pg `Client#connect`, which pg's pool and so every
 * TypeORM DataSource goes through), counted by wrapping the prototype on first call.
 */
export function connectsOpened(): number {
  if (!connectCounting) {
    connectCounting = true;
    const prototype = Client.prototype as unknown as { connect: (...args: unknown[]) => unknown };
    const connect = prototype.connect;
    prototype.connect = function (this: unknown, ...args: unknown[]): unknown {
      openedSoFar++;
      return connect.apply(this, args);
    };
  }
  return openedSoFar;
}
