import { withTimeout } from '@silo/core';
import { DelayedError, Worker, type Job } from 'bullmq';
import IORedis, { type Redis } from 'ioredis';
import { JobOutcomeRecorder, jobOutcomesKey, type JobPassOutcome } from './job-outcomes';
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

/** What the processor needs of a BullMQ job. */
export type ProcessedJob = Pick<Job, 'id' | 'name' | 'data' | 'moveToDelayed'>;

/**
 * One pass of a job: runs its handler, parks the job in the delayed set when the handler asks
 * to wait, and counts the pass's outcome (without waiting for the count to be written).
 */
export function jobProcessor(
  handlers: Readonly<Record<string, JobHandler>>,
  outcomes: Pick<JobOutcomeRecorder, 'record'>,
): (job: ProcessedJob, token?: string) => Promise<void> {
  return async (job, token) => {
    let outcome: JobPassOutcome = 'failed';
    try {
      const handler = handlers[job.name];
      if (!handler) throw new Error(`no handler for job ${job.name}`);
      const result = await handler({
        id: job.id ?? '',
        name: job.name,
        data: job.data as Record<string, unknown>,
      });
      if (result.kind === 'delay') {
        await job.moveToDelayed(Date.now() + result.delayMs, token);
        outcome = 'delayed';
        throw new DelayedError();
      }
      outcome = 'completed';
    } finally {
      outcomes.record(job.name, outcome);
    }
  };
}

/**
 * A BullMQ worker whose handlers never sleep: a handler that must wait returns a delay and the
 * job goes back to the delayed set (moveToDelayed + DelayedError), freeing the slot. A job whose
 * worker died is taken over once its lock expires (stalled-job check every lock duration).
 * Each pass's outcome is counted in {@link jobOutcomesKey} over a connection of its own.
 */
export function startQueueWorker(options: QueueWorkerOptions): Worker {
  assertOneHandlerPerJob(options.jobNames, options.handlers);
  // Fails a command after one reconnect attempt, so counts never pile up in memory while Redis is away.
  const outcomesRedis = new IORedis({
    ...redisConnectionOptions(options.redisUrl),
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
  });
  outcomesRedis.on('error', () => undefined);
  const outcomes = new JobOutcomeRecorder(outcomesRedis, jobOutcomesKey(options.prefix, options.queue));
  const worker = new Worker(options.queue, jobProcessor(options.handlers, outcomes), {
    connection: { ...redisConnectionOptions(options.redisUrl), maxRetriesPerRequest: null },
    prefix: options.prefix,
    concurrency: options.concurrency,
    lockDuration: options.lockDurationMs,
    stalledInterval: options.lockDurationMs,
    // A job may be orphaned by several crashes in a row (the crash-resume tests do exactly
    // that); steps are idempotent, so taking it over again is always safe.
    maxStalledCount: 10,
    settings: { backoffStrategy: (attemptsMade: number) => options.backoff(attemptsMade) },
  });
  worker.on('closed', () => closeQuietly(outcomesRedis));
  return worker;
}

function closeQuietly(redis: Redis): void {
  if (redis.status === 'wait') {
    redis.disconnect();
    return;
  }
  // QUIT lets the last passes' counts land; with Redis away, drop the socket instead.
  void withTimeout(redis.quit(), 1000)
    .catch(() => undefined)
    .finally(() => redis.disconnect());
}
