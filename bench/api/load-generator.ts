import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

/** What each request of a row is; the worker builds the requests from it. */
export type Workload =
  | { kind: 'get'; path: string }
  /** GET `${prefix}${ids[i]}`, cycling through the ids. */
  | { kind: 'get-each'; prefix: string; ids: string[] }
  /**
   * POST a tenant body `{slug, name, tier}` with a slug unique to this request
   * (`${slugPrefix}-${n}`); `idempotencyKey` adds a unique `Idempotency-Key` header.
   */
  | { kind: 'post-tenant'; path: string; slugPrefix: string; idempotencyKey: boolean; collectIds: boolean };

export interface LoadSpec {
  port: number;
  workload: Workload;
  /** Sent with every request (the bare app gets the same bytes as the API). */
  headers: Record<string, string>;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
}

export interface ErrorSample {
  status: number | 'network';
  detail: string;
}

export interface LoadResult {
  /** Requests started in the measured window and answered. */
  requests: number;
  /** Of those, non-2xx answers and network errors. */
  errors: number;
  errorSamples: ErrorSample[];
  /** From the window's start until the last request started in it was answered. */
  wallMs: number;
  /** Per measured request, ms. */
  latenciesMs: Float64Array;
  /** Ids from the 2xx answers of a post-tenant workload with collectIds (warm-up included). */
  ids: string[];
}

/** Worker → main thread. */
export type LoadMessage = { type: 'measuring' } | { type: 'done'; result: LoadResult };

/** How long the load generator gets to finish its requests in flight after an abort. */
const STOP_GRACE_MS = 5000;

/**
 * Runs one row's closed loop in a worker thread, so the load generator does not share an event
 * loop with the servers it measures. `onMeasuring` is called when the warm-up ends. On abort the
 * generator stops sending and waits for its answers, so that no request is still in the servers
 * when they close.
 */
export function runLoad(spec: LoadSpec, onMeasuring: () => void, signal: AbortSignal): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(join(__dirname, 'load-generator.worker.js'), { workerData: spec });
    let killer: NodeJS.Timeout | undefined;
    const abort = () => {
      worker.postMessage('stop');
      killer = setTimeout(() => void worker.terminate(), STOP_GRACE_MS);
    };
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
    let result: LoadResult | undefined;
    let failure: Error | undefined;
    worker.on('message', (message: LoadMessage) => {
      if (message.type === 'measuring') onMeasuring();
      else result = message.result;
    });
    worker.on('error', (error: Error) => {
      failure = error;
    });
    worker.on('exit', (code) => {
      clearTimeout(killer);
      signal.removeEventListener('abort', abort);
      if (signal.aborted) reject(signal.reason as Error);
      else if (result) resolve(result);
      else reject(failure ?? new Error(`the load generator exited with code ${code} before finishing`));
    });
  });
}
