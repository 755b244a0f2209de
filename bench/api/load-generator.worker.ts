import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import type { ErrorSample, LoadMessage, LoadResult, LoadSpec, Workload } from './load-generator';

const TIERS = ['starter', 'pro', 'enterprise'] as const;
const MAX_ERROR_SAMPLES = 5;

interface Prepared {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string | number>;
  body?: Buffer;
}

interface Answer {
  status: number;
  body: Buffer;
}

/**
 * A closed loop: `concurrency` users on one keep-alive agent with as many sockets, each sending
 * its next request when the previous one is answered, for the warm-up and then the measured
 * window. A request counts when it started inside the window; no new one starts after it.
 */
async function main(spec: LoadSpec): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: spec.concurrency });
  const next = requestFactory(spec.workload, spec.headers);
  const latencies: number[] = [];
  const errorSamples: ErrorSample[] = [];
  const ids: string[] = [];
  let errors = 0;
  let lastAnswered = 0;

  const start = performance.now();
  const measureFrom = start + spec.warmupMs;
  let stopAt = measureFrom + spec.durationMs;
  let warmup: NodeJS.Timeout | undefined;
  const warmupDone = new Promise<void>((resolve) => {
    warmup = setTimeout(() => {
      post({ type: 'measuring' });
      resolve();
    }, spec.warmupMs);
  });
  // 'stop' (the run was aborted): send nothing more, let the requests in flight be answered.
  const stopped = new Promise<void>((resolve) => {
    parentPort?.once('message', () => {
      stopAt = 0;
      clearTimeout(warmup);
      resolve();
    });
    parentPort?.unref();
  });

  const user = async (): Promise<void> => {
    for (;;) {
      const sentAt = performance.now();
      if (sentAt >= stopAt) return;
      const req = next();
      let answer: Answer | undefined;
      let failure: ErrorSample | undefined;
      try {
        answer = await send(agent, spec.port, req);
        if (answer.status < 200 || answer.status > 299) {
          failure = { status: answer.status, detail: answer.body.toString('utf8', 0, 300) };
        }
      } catch (error) {
        failure = { status: 'network', detail: error instanceof Error ? error.message : String(error) };
      }
      const answeredAt = performance.now();
      if (answer && !failure && spec.workload.kind === 'post-tenant' && spec.workload.collectIds) {
        ids.push((JSON.parse(answer.body.toString('utf8')) as { id: string }).id);
      }
      if (sentAt < measureFrom) continue;
      latencies.push(answeredAt - sentAt);
      lastAnswered = Math.max(lastAnswered, answeredAt);
      if (failure) {
        errors++;
        if (errorSamples.length < MAX_ERROR_SAMPLES) errorSamples.push(failure);
        // A refused connection answers at once: do not spin on it.
        if (failure.status === 'network') await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  };

  await Promise.all([Promise.race([warmupDone, stopped]), ...Array.from({ length: spec.concurrency }, user)]);
  agent.destroy();
  return {
    requests: latencies.length,
    errors,
    errorSamples,
    wallMs: latencies.length ? lastAnswered - measureFrom : 0,
    latenciesMs: Float64Array.from(latencies),
    ids,
  };
}

function requestFactory(workload: Workload, headers: Record<string, string>): () => Prepared {
  switch (workload.kind) {
    case 'get':
      return () => ({ method: 'GET', path: workload.path, headers });
    case 'get-each': {
      if (!workload.ids.length) throw new Error('get-each needs at least one id');
      let i = 0;
      return () => ({
        method: 'GET',
        path: `${workload.prefix}${workload.ids[i++ % workload.ids.length]}`,
        headers,
      });
    }
    case 'post-tenant': {
      let n = 0;
      return () => {
        const slug = `${workload.slugPrefix}-${n}`;
        const body = Buffer.from(
          JSON.stringify({ slug, name: `Bench tenant ${n}`, tier: TIERS[n % TIERS.length] }),
        );
        n++;
        return {
          method: 'POST',
          path: workload.path,
          headers: {
            ...headers,
            'content-type': 'application/json',
            'content-length': body.length,
            ...(workload.idempotencyKey ? { 'idempotency-key': `key-${slug}` } : {}),
          },
          body,
        };
      };
    }
  }
}

function send(agent: Agent, port: number, req: Prepared): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { agent, host: '127.0.0.1', port, method: req.method, path: req.path, headers: req.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(req.body);
  });
}

function post(message: LoadMessage): void {
  parentPort?.postMessage(message);
}

main(workerData as LoadSpec).then(
  (result) => post({ type: 'done', result }),
  (error: unknown) => {
    throw error;
  },
);
