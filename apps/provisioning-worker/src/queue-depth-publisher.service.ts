import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { QueueMetrics, type QueueDepth } from '@silo/aws';
import { SiloConfig } from '@silo/config';
import { ProvisioningQueueStats } from '@silo/queue';

/**
 * Publishes the provisioning queue's depth to CloudWatch every QUEUE_METRICS_INTERVAL_SECONDS, for
 * worker autoscaling (infra/'s services stack scales on the backlog). Every replica publishes
 * the same queue-wide counts; a failed pass is logged once per run of failures and retried at the
 * next tick, and never touches job processing.
 */
@Injectable()
export class QueueDepthPublisher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(QueueDepthPublisher.name);
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<QueueDepth | undefined> | undefined;
  private failing = false;

  constructor(
    private readonly config: SiloConfig,
    private readonly stats: ProvisioningQueueStats,
    private readonly metrics: QueueMetrics,
  ) {}

  onApplicationBootstrap(): void {
    const intervalMs = this.config.worker.queueMetricsIntervalMs;
    if (intervalMs === 0) return;
    this.timer = setInterval(() => void this.publishOnce(), intervalMs);
    this.timer.unref();
    void this.publishOnce();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.pass;
  }

  /** One pass (or the one already under way): the depth it published, or undefined if it failed. */
  publishOnce(): Promise<QueueDepth | undefined> {
    this.pass ??= this.publish().finally(() => (this.pass = undefined));
    return this.pass;
  }

  private async publish(): Promise<QueueDepth | undefined> {
    try {
      const counts = await this.stats.jobCounts();
      const depth: QueueDepth = {
        backlog: counts.waiting + counts.prioritized,
        active: counts.active,
        delayed: counts.delayed,
      };
      await this.metrics.publishDepth(this.config.resources.prefix, depth, new Date());
      if (this.failing) this.logger.log({ depth }, 'publishing the queue depth to CloudWatch again');
      this.failing = false;
      return depth;
    } catch (error) {
      if (!this.failing) {
        this.logger.warn(
          { err: error, everyMs: this.config.worker.queueMetricsIntervalMs },
          'could not publish the queue depth to CloudWatch; worker autoscaling sees no new data until it can',
        );
      }
      this.failing = true;
      return undefined;
    }
  }
}
