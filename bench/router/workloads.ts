import type { Contender } from './contender';

/** What one contender did in one workload. */
export interface WorkloadResult {
  /** Successful requests that started inside the measured window. */
  ok: number;
  /** Window start → last answer of a counted request. */
  measuredMs: number;
  /** Per successful counted request, send → answer. */
  latenciesMs: number[];
  /** Failed counted requests by SQLSTATE (or the error's own code when it carries none). */
  errors: Map<string, number>;
  /** The first message seen per error key. */
  examples: Map<string, string>;
}

/**
 * `concurrency` workers, each sending its next request when the previous one is answered, for
 * `warmupMs` unmeasured and then `durationMs` measured. A request counts when it started in the
 * measured window.
 */
export async function closedLoop(options: {
  contender: Contender;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** The tenant of a worker's next request. */
  pick: (worker: number) => string;
  signal: AbortSignal;
}): Promise<WorkloadResult> {
  const { contender, pick, signal } = options;
  const result = emptyResult();
  const measureFrom = performance.now() + options.warmupMs;
  const endAt = measureFrom + options.durationMs;
  let lastAnswer = measureFrom;
  await Promise.all(
    Array.from({ length: options.concurrency }, async (_, worker) => {
      for (let sent = performance.now(); sent < endAt && !signal.aborted; sent = performance.now()) {
        const tenantId = pick(worker);
        let failure: unknown;
        let failed = false;
        try {
          await contender.request(tenantId);
        } catch (error) {
          failed = true;
          failure = error;
        }
        const answered = performance.now();
        if (sent < measureFrom) continue;
        if (answered > lastAnswer) lastAnswer = answered;
        if (failed) countError(result, failure);
        else {
          result.ok++;
          result.latenciesMs.push(answered - sent);
        }
      }
    }),
  );
  signal.throwIfAborted();
  result.measuredMs = lastAnswer - measureFrom;
  return result;
}

/** `requests` requests for one tenant sent in the same tick; measured from the first send to the last answer. */
export async function herd(
  contender: Contender,
  tenantId: string,
  requests: number,
): Promise<WorkloadResult> {
  const result = emptyResult();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: requests }, async () => {
      const sent = performance.now();
      try {
        await contender.request(tenantId);
        result.ok++;
        result.latenciesMs.push(performance.now() - sent);
      } catch (error) {
        countError(result, error);
      }
    }),
  );
  result.measuredMs = performance.now() - started;
  return result;
}

/** Every request on the same tenants once, one at a time (fills a cache without racing). */
export async function touchEach(contender: Contender, tenantIds: readonly string[]): Promise<void> {
  for (const tenantId of tenantIds) await contender.request(tenantId);
}

/** Adds `more` (another measured stretch of the same contender) to `into`. */
export function addResult(into: WorkloadResult, more: WorkloadResult): void {
  into.ok += more.ok;
  into.measuredMs += more.measuredMs;
  for (const latency of more.latenciesMs) into.latenciesMs.push(latency);
  for (const [key, n] of more.errors) into.errors.set(key, (into.errors.get(key) ?? 0) + n);
  for (const [key, message] of more.examples) if (!into.examples.has(key)) into.examples.set(key, message);
}

export function emptyResult(): WorkloadResult {
  return { ok: 0, measuredMs: 0, latenciesMs: [], errors: new Map(), examples: new Map() };
}

function countError(result: WorkloadResult, error: unknown): void {
  const key = errorKey(error);
  result.errors.set(key, (result.errors.get(key) ?? 0) + 1);
  if (!result.examples.has(key))
    result.examples.set(key, error instanceof Error ? error.message : String(error));
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * The SQLSTATE of a failed request, looked for in the error and what it wraps (TypeORM's
 * driverError, a cause); a wrapper with its own code is named first, as in
 * `TENANT_DATABASE_UNAVAILABLE/53300`. Errors without a SQLSTATE give their code or name.
 */
export function errorKey(error: unknown): string {
  let outer: string | undefined;
  for (let e: unknown = error, depth = 0; e !== null && typeof e === 'object' && depth < 6; depth++) {
    const { code, driverError, cause } = e as { code?: unknown; driverError?: unknown; cause?: unknown };
    if (typeof code === 'string' && SQLSTATE.test(code)) return outer ? `${outer}/${code}` : code;
    if (outer === undefined && typeof code === 'string') outer = code;
    e = driverError ?? cause;
  }
  if (outer) return outer;
  if (error instanceof Error) return /timeout/i.test(error.message) ? `${error.name}: timeout` : error.name;
  return 'unknown';
}

/** True when the key is PostgreSQL's too_many_connections, bare or wrapped. */
export function isTooManyClients(key: string): boolean {
  return key === '53300' || key.endsWith('/53300');
}

/** Small, seedable, and the same sequence for every contender. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Per worker: a tenant index from 0 to n-1, uniformly. */
export function uniformPicker(n: number, workers: number): (worker: number) => number {
  const rngs = Array.from({ length: workers }, (_, w) => mulberry32(1000 + w));
  return (worker) => Math.floor(rngs[worker]() * n);
}

/**
 * Per worker: a tenant index from 0 to n-1, Zipf-distributed with exponent s (rank k has weight
 * 1/k^s). Ranks are shuffled over the indexes, so the popular tenants are spread over the fleet.
 */
export function zipfPicker(n: number, s: number, workers: number): (worker: number) => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    total += 1 / Math.pow(k + 1, s);
    cdf[k] = total;
  }
  const byRank = Array.from({ length: n }, (_, i) => i);
  const shuffle = mulberry32(42);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(shuffle() * (i + 1));
    [byRank[i], byRank[j]] = [byRank[j], byRank[i]];
  }
  const rngs = Array.from({ length: workers }, (_, w) => mulberry32(2000 + w));
  return (worker) => {
    const u = rngs[worker]() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return byRank[lo];
  };
}

/** Share of requests that go to the `top` most popular of n tenants under Zipf(s). */
export function zipfTopShare(n: number, s: number, top: number): number {
  let all = 0;
  let head = 0;
  for (let k = 1; k <= n; k++) {
    const w = 1 / Math.pow(k, s);
    all += w;
    if (k <= top) head += w;
  }
  return head / all;
}

/**
 * Orders of 0..n-1, one per round, in which each member comes right after each other one equally
 * often: a Williams design (a balanced Latin square), n orders for an even n, 2n for an odd n. The
 * pairs across rounds (the last of one, the first of the next) are not balanced: one per round
 * boundary, against n - 1 balanced pairs within each round.
 */
export function balancedOrders(n: number): number[][] {
  const first: number[] = [];
  for (let k = 0, lo = 1, hi = n - 1; k < n; k++) {
    if (k === 0) first.push(0);
    else if (k % 2 === 1) first.push(lo++);
    else first.push(hi--);
  }
  const orders = Array.from({ length: n }, (_, shift) => first.map((m) => (m + shift) % n));
  if (n % 2 === 1) for (const order of orders.slice()) orders.push(order.slice().reverse());
  return orders;
}
