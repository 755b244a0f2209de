import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { SiloConfig } from '@silo/config';
import { withTimeout } from '@silo/core';
import { Queue } from 'bullmq';
import IORedis, { type Redis } from 'ioredis';
import { redisConnectionOptions } from './redis-connection-options';

export const PROVISIONING_QUEUE = 'provisioning';

export interface EnqueueOptions {
  /** Deterministic id: adding a job whose id exists is a no-op. */
  jobId: string;
  /** 1 is the highest priority. */
  priority?: number;
  /** Milliseconds before the job may run. */
  delay?: number;
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
      this.queue.add(name, data, { jobId: options.jobId, priority: options.priority, delay: options.delay }),
      timeoutMs,
      `Redis did not take the job within ${timeoutMs} ms`,
    );
  }

  /**
   * Where a job stands, as a caller deciding whether to queue it again needs it: `live` (waiting,
   * prioritised, delayed, active: it will run), `completed`, `failed` (attempts used up, or
   * stalled too often), or `missing` (removed, or Redis lost it).
   */
  async jobFate(jobId: string, timeoutMs = 5000): Promise<'live' | 'completed' | 'failed' | 'missing'> {
    const state = await withTimeout(
      this.queue.getJobState(jobId),
      timeoutMs,
      `Redis did not answer within ${timeoutMs} ms`,
    );
    if (state === 'completed' || state === 'failed') return state;
    return state === 'unknown' ? 'missing' : 'live';
  }

  /**
   * Whether the job is queued and not started: waiting, prioritised, or delayed (a retry, or a
   * job that put itself back to wait its turn). False once a worker holds it, and for a job
   * that ended or does not exist.
   */
  async isWaiting(jobId: string, timeoutMs = 5000): Promise<boolean> {
    const state = await withTimeout(
      this.queue.getJobState(jobId),
      timeoutMs,
      `Redis did not answer within ${timeoutMs} ms`,
    );
    return state === 'waiting' || state === 'prioritized' || state === 'delayed';
  }

  /**
   * Removes a completed job, so that its deterministic id can be added again (adding an id that
   * exists, even completed, is a no-op). Any other job is left alone.
   */
  async discardCompleted(jobId: string, timeoutMs = 5000): Promise<void> {
    await withTimeout(
      (async () => {
        const job = await this.queue.getJob(jobId);
        if (job && (await job.getState()) === 'completed') await job.remove();
      })(),
      timeoutMs,
      `Redis did not answer within ${timeoutMs} ms`,
    );
  }

  /**
   * Removes a failed job (attempts used up, or stalled too often), so that its deterministic id
   * can be added again. Any other job is left alone.
   */
  async discardFailed(jobId: string, timeoutMs = 5000): Promise<void> {
    await withTimeout(
      (async () => {
        const job = await this.queue.getJob(jobId);
        if (job && (await job.getState()) === 'failed') await job.remove();
      })(),
      timeoutMs,
      `Redis did not answer within ${timeoutMs} ms`,
    );
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
