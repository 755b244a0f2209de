import { Injectable } from '@nestjs/common';
import { SiloConfig } from '@silo/config';
import { withTimeout } from '@silo/core';
import { ProvisioningQueue } from './job-queue';
import { jobOutcomesKey, readJobOutcomes, type JobOutcomeCount } from './job-outcomes';
import { RedisConnection } from './redis-connection';

/** The job states BullMQ counts, in the order they are reported. */
export const QUEUE_JOB_STATES = [
  'waiting',
  'prioritized',
  'active',
  'delayed',
  'failed',
  'completed',
  'paused',
  'waiting-children',
] as const;
export type QueueJobState = (typeof QUEUE_JOB_STATES)[number];

/**
 * Read side of the `provisioning` queue for monitoring: jobs by state and job passes by outcome,
 * both cluster-wide (read from Redis, not from this process). Each read answers or rejects
 * within `timeoutMs`, also while Redis is away.
 */
@Injectable()
export class ProvisioningQueueStats {
  constructor(
    private readonly queue: ProvisioningQueue,
    private readonly redis: RedisConnection,
    private readonly config: SiloConfig,
  ) {}

  get queueName(): string {
    return this.queue.queue.name;
  }

  async jobCounts(timeoutMs = 2000): Promise<Record<QueueJobState, number>> {
    const counts = await withTimeout(
      this.queue.queue.getJobCounts(...QUEUE_JOB_STATES),
      timeoutMs,
      `Redis did not count the jobs within ${timeoutMs} ms`,
    );
    return Object.fromEntries(QUEUE_JOB_STATES.map((state) => [state, counts[state] ?? 0])) as Record<
      QueueJobState,
      number
    >;
  }

  async jobOutcomes(timeoutMs = 2000): Promise<JobOutcomeCount[]> {
    return withTimeout(
      readJobOutcomes(this.redis.client, jobOutcomesKey(this.config.queue.prefix, this.queueName)),
      timeoutMs,
      `Redis did not read the job outcomes within ${timeoutMs} ms`,
    );
  }
}
