import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { SiloConfig } from '@silo/config';
import { withTimeout } from '@silo/core';
import { Queue } from 'bullmq';
import IORedis, { type Redis } from 'ioredis';
import { redisConnectionOptions } from './redis-connection-options';

export const PROVISIONING_QUEUE = 'provisioning';

const LIVE_STATES = new Set(['waiting', 'prioritized', 'delayed', 'active', 'waiting-children']);

export interface EnqueueOptions {
  /** Deterministic id: adding a job whose id exists is a no-op. */
  jobId: string;
  /** 1 is the highest priority. */
  priority?: number;
}

/** Producer side of the `provisioning` queue. Job data holds ids only. */
@Injectable()
export class ProvisioningQueue implements OnApplicationShutdown {
  readonly queue: Queue;
  /** Owned here rather than by BullMQ, so that shutdown can always drop it, even while Redis is away. */
  private readonly redis: Redis;

  constructor(config: SiloConfig) {
    // A command waits for one reconnect at most, so a relay pass fails fast while Redis is away.
    this.redis = new IORedis({ ...redisConnectionOptions(config.redis.url), maxRetriesPerRequest: 1 });
    this.redis.on('error', () => undefined);
    this.queue = new Queue(PROVISIONING_QUEUE, {
      connection: this.redis,
      prefix: config.queue.prefix,
      defaultJobOptions: {
        // Unclassified failures (a bug, the control-plane database away): BullMQ retries with
        // the worker's capped backoff for as long as it takes (about two weeks at the cap);
        // provisioning outcomes never go through this path.
        attempts: 10_000,
        backoff: { type: 'silo' },
        removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
        removeOnFail: { age: 30 * 24 * 3600 },
      },
    });
    this.queue.on('error', () => undefined);
  }

  /**
   * Adds the job, or rejects within `timeoutMs` (BullMQ otherwise waits for Redis indefinitely).
   * A timed-out add may still land later; the deterministic job id makes a retry harmless.
   */
  async add(
    name: string,
    data: Record<string, string>,
    options: EnqueueOptions,
    timeoutMs = 5000,
  ): Promise<void> {
    await withTimeout(
      this.queue.add(name, data, { jobId: options.jobId, priority: options.priority }),
      timeoutMs,
      `Redis did not take the job within ${timeoutMs} ms`,
    );
  }

  /**
   * Whether the job will still run: waiting, prioritised, delayed or active. A completed, failed
   * or unknown (removed, flushed) job will not.
   */
  async isLive(jobId: string, timeoutMs = 5000): Promise<boolean> {
    const state = await withTimeout(
      this.queue.getJobState(jobId),
      timeoutMs,
      `Redis did not answer within ${timeoutMs} ms`,
    );
    return LIVE_STATES.has(state);
  }

  /**
   * Removes a finished job, so that its deterministic id can be added again (adding an id that
   * exists, even completed, is a no-op). A live job is left alone.
   */
  async discardFinished(jobId: string): Promise<void> {
    const job = await this.queue.getJob(jobId);
    if (!job) return;
    const state = await job.getState();
    if (state === 'completed' || state === 'failed') await job.remove();
  }

  /** One job `name` every `everyMs`, however many processes call this (a BullMQ job scheduler). */
  async schedule(schedulerId: string, everyMs: number, name: string): Promise<void> {
    await this.queue.upsertJobScheduler(schedulerId, { every: everyMs }, { name, data: {} });
  }

  async onApplicationShutdown(): Promise<void> {
    // With Redis away a graceful close never completes: give it a moment, then drop the socket.
    await withTimeout(this.queue.close(), 2000).catch(() => undefined);
    this.redis.disconnect();
  }
}
