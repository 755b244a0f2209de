import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';

/**
 * How one pass of a job ended: `completed` (the handler finished it), `delayed` (the handler
 * asked to wait or retry later; the job went back to the delayed set) or `failed` (the pass
 * threw; BullMQ retries it with backoff while attempts remain).
 */
export const JOB_OUTCOMES = ['completed', 'delayed', 'failed'] as const;
export type JobPassOutcome = (typeof JOB_OUTCOMES)[number];

export interface JobOutcomeCount {
  job: string;
  outcome: JobPassOutcome;
  count: number;
}

/**
 * The Redis hash counting a queue's job passes, one field per job name and outcome. It lives
 * under the configured queue prefix, beside (not inside) BullMQ's own keys for the queue, and
 * is shared by every worker process, so any API replica reads the cluster-wide totals.
 */
export function jobOutcomesKey(prefix: string, queue: string): string {
  return `${prefix}:silo:${queue}:job-outcomes`;
}

function field(job: string, outcome: JobPassOutcome): string {
  return `${job}:${outcome}`;
}

/** What the recorder needs of a Redis client. */
export type OutcomeCounterClient = Pick<Redis, 'hincrby'>;

/** Where the recorder reports a count it could not write. */
export interface OutcomeRecorderLog {
  warn(message: string): void;
}

/**
 * Counts job passes by outcome, for `silo_jobs_total`. Fire-and-forget: `record` never throws
 * and never waits for Redis, so a Redis hiccup costs a count (logged), never a job pass.
 */
export class JobOutcomeRecorder {
  constructor(
    private readonly redis: OutcomeCounterClient,
    private readonly key: string,
    private readonly log: OutcomeRecorderLog = new Logger(JobOutcomeRecorder.name),
  ) {}

  record(job: string, outcome: JobPassOutcome): void {
    try {
      this.redis
        .hincrby(this.key, field(job, outcome), 1)
        .catch((error: unknown) => this.lost(job, outcome, error));
    } catch (error) {
      this.lost(job, outcome, error);
    }
  }

  private lost(job: string, outcome: JobPassOutcome, error: unknown): void {
    try {
      this.log.warn(
        `job outcome not counted (${job} ${outcome}): ${error instanceof Error ? error.message : String(error)}`,
      );
    } catch {
      // A broken logger must not turn a lost count into a failed job either.
    }
  }
}

/** The counts written by {@link JobOutcomeRecorder}; fields it did not write are ignored. */
export async function readJobOutcomes(
  redis: Pick<Redis, 'hgetall'>,
  key: string,
): Promise<JobOutcomeCount[]> {
  const hash = await redis.hgetall(key);
  const counts: JobOutcomeCount[] = [];
  for (const [name, value] of Object.entries(hash)) {
    const at = name.lastIndexOf(':');
    const outcome = name.slice(at + 1);
    const count = Number(value);
    if (at <= 0 || !isJobOutcome(outcome) || !Number.isSafeInteger(count) || count < 0) continue;
    counts.push({ job: name.slice(0, at), outcome, count });
  }
  return counts;
}

function isJobOutcome(value: string): value is JobPassOutcome {
  return (JOB_OUTCOMES as readonly string[]).includes(value);
}
