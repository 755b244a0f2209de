import { DelayedError, Worker, type Job } from 'bullmq';
import { redisConnectionOptions } from './redis-connection-options';

/** What a job handler asks of the queue after one pass. */
export type JobOutcome = { kind: 'finished' } | { kind: 'delay'; delayMs: number };

export interface QueueJob {
  id: string;
  name: string;
  data: Record<string, unknown>;
}

export type JobHandler = (job: QueueJob) => Promise<JobOutcome>;

/** A running worker, as callers outside this library see it. */
export type QueueWorker = Worker;

export interface QueueWorkerOptions {
  queue: string;
  prefix: string;
  redisUrl: string;
  concurrency: number;
  lockDurationMs: number;
  /** Every job name the queue carries; each must have exactly one handler. */
  jobNames: readonly string[];
  handlers: Readonly<Record<string, JobHandler>>;
  /** Backoff for unclassified failures, by attempt number. */
  backoff: (attempt: number) => number;
}

/** Refuses a handler table that misses a job name or handles one the queue does not carry. */
export function assertOneHandlerPerJob(
  jobNames: readonly string[],
  handlers: Readonly<Record<string, JobHandler>>,
): void {
  const missing = jobNames.filter((n) => typeof handlers[n] !== 'function');
  const unknown = Object.keys(handlers).filter((n) => !jobNames.includes(n));
  const duplicated = jobNames.filter((n, i) => jobNames.indexOf(n) !== i);
  if (missing.length || unknown.length || duplicated.length) {
    throw new Error(
      `job handlers do not match the job names: ${[
        missing.length ? `no handler for ${missing.join(', ')}` : '',
        unknown.length ? `handlers for unknown jobs ${unknown.join(', ')}` : '',
        duplicated.length ? `job names listed twice: ${duplicated.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; ')}`,
    );
  }
}

/**
 * A BullMQ worker whose handlers never sleep: a handler that must wait returns a delay and the
 * job goes back to the delayed set (moveToDelayed + DelayedError), freeing the slot. A job whose
 * worker died is taken over once its lock expires (stalled-job check every lock duration).
 */
export function startQueueWorker(options: QueueWorkerOptions): Worker {
  assertOneHandlerPerJob(options.jobNames, options.handlers);
  return new Worker(
    options.queue,
    async (job: Job, token?: string) => {
      const handler = options.handlers[job.name];
      if (!handler) throw new Error(`no handler for job ${job.name}`);
      const outcome = await handler({
        id: job.id ?? '',
        name: job.name,
        data: job.data as Record<string, unknown>,
      });
      if (outcome.kind === 'delay') {
        await job.moveToDelayed(Date.now() + outcome.delayMs, token);
        throw new DelayedError();
      }
    },
    {
      connection: { ...redisConnectionOptions(options.redisUrl), maxRetriesPerRequest: null },
      prefix: options.prefix,
      concurrency: options.concurrency,
      lockDuration: options.lockDurationMs,
      stalledInterval: options.lockDurationMs,
      // A job may be orphaned by several crashes in a row (the crash-resume tests do exactly
      // that); steps are idempotent, so taking it over again is always safe.
      maxStalledCount: 10,
      settings: { backoffStrategy: (attemptsMade: number) => options.backoff(attemptsMade) },
    },
  );
}
