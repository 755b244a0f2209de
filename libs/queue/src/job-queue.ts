import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { SiloConfig } from '@silo/config';
import { Queue } from 'bullmq';
import { redisConnectionOptions } from './redis-connection-options';

export const PROVISIONING_QUEUE = 'provisioning';

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

  constructor(config: SiloConfig) {
    this.queue = new Queue(PROVISIONING_QUEUE, {
      connection: {
        ...redisConnectionOptions(config.redis.url),
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
      },
      prefix: config.queue.prefix,
      defaultJobOptions: {
        // Unclassified failures (a bug, the control-plane database away): BullMQ retries with
        // the worker's backoff strategy. Provisioning outcomes never go through this path.
        attempts: 25,
        backoff: { type: 'silo' },
        removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
        removeOnFail: { age: 30 * 24 * 3600 },
      },
    });
    this.queue.on('error', () => undefined);
  }

  async add(name: string, data: Record<string, string>, options: EnqueueOptions): Promise<void> {
    await this.queue.add(name, data, { jobId: options.jobId, priority: options.priority });
  }

  async onApplicationShutdown(): Promise<void> {
    // With Redis away, a graceful QUIT cannot be sent; drop the connection instead.
    await this.queue.close().catch(() => this.queue.disconnect());
  }
}
