import { GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import { Logger } from '@nestjs/common';
import { AwsClients, QUEUE_DEPTH_METRICS, QueueMetrics, SILO_METRIC_NAMESPACE } from '@silo/aws';
import { freePort } from '../../../test/support/free-port';
import { testConfig, uniqueToken } from '../../../test/support/test-config';
import { ProvisioningQueue, ProvisioningQueueStats, RedisConnection } from '../../../libs/queue/src';
import { QueueDepthPublisher } from '../src/queue-depth-publisher.service';

jest.setTimeout(60_000);

describe('the queue depth the worker publishes to CloudWatch (emulator over HTTP, real Redis)', () => {
  // A resource prefix of this test's own: the metric's dimension, so no other run's data mixes in.
  const prefix = `qd${uniqueToken(3)}`;
  const config = testConfig({ SILO_RESOURCE_PREFIX: prefix, QUEUE_METRICS_INTERVAL_SECONDS: '0' });
  const queue = new ProvisioningQueue(config);
  const redis = new RedisConnection(config);
  const aws = new AwsClients(config);
  const stats = new ProvisioningQueueStats(queue, redis, config);

  afterAll(async () => {
    await queue.queue.obliterate({ force: true });
    await queue.onApplicationShutdown();
    redis.onApplicationShutdown();
    aws.onApplicationShutdown();
  });

  async function maximum(metric: string): Promise<number | undefined> {
    const now = Date.now();
    const { Datapoints } = await aws.cloudWatch.send(
      new GetMetricStatisticsCommand({
        Namespace: SILO_METRIC_NAMESPACE,
        MetricName: metric,
        Dimensions: [{ Name: 'ResourcePrefix', Value: prefix }],
        StartTime: new Date(now - 10 * 60_000),
        EndTime: new Date(now + 60_000),
        Period: 60,
        Statistics: ['Maximum'],
      }),
    );
    const values = (Datapoints ?? []).map((d) => d.Maximum ?? Number.NaN);
    return values.length ? Math.max(...values) : undefined;
  }

  it('counts ready jobs as the backlog, apart from delayed and active ones, under the deployment prefix', async () => {
    // Nothing consumes this queue: two jobs stay ready (one prioritised), one waits for a timer.
    await queue.add('provision-tenant', { tenantId: 'a' }, { jobId: `a-${prefix}` });
    await queue.add('provision-tenant', { tenantId: 'b' }, { jobId: `b-${prefix}`, priority: 2 });
    await queue.queue.add('provision-tenant', { tenantId: 'c' }, { jobId: `c-${prefix}`, delay: 3_600_000 });

    const publisher = new QueueDepthPublisher(config, stats, new QueueMetrics(aws));
    await expect(publisher.publishOnce()).resolves.toEqual({ backlog: 2, active: 0, delayed: 1 });

    expect(await maximum(QUEUE_DEPTH_METRICS.backlog)).toBe(2);
    expect(await maximum(QUEUE_DEPTH_METRICS.delayed)).toBe(1);
    expect(await maximum(QUEUE_DEPTH_METRICS.active)).toBe(0);
  });

  it('logs a failing CloudWatch once per run of failures, never throws, and says when it publishes again', async () => {
    const warned = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const logged = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    try {
      const away = new AwsClients(
        testConfig({ AWS_ENDPOINT_URL: `http://127.0.0.1:${await freePort()}`, AWS_MAX_ATTEMPTS: '1' }),
      );
      let metrics = new QueueMetrics(away);
      const publisher = new QueueDepthPublisher(config, stats, {
        publishDepth: (...args: Parameters<QueueMetrics['publishDepth']>) => metrics.publishDepth(...args),
      } as QueueMetrics);

      await expect(publisher.publishOnce()).resolves.toBeUndefined();
      await expect(publisher.publishOnce()).resolves.toBeUndefined();
      const warnings = warned.mock.calls.filter(([, message]) =>
        String(message).startsWith('could not publish the queue depth'),
      );
      expect(warnings).toHaveLength(1);

      metrics = new QueueMetrics(aws);
      await expect(publisher.publishOnce()).resolves.toEqual({ backlog: 2, active: 0, delayed: 1 });
      expect(
        logged.mock.calls.some(([, message]) => message === 'publishing the queue depth to CloudWatch again'),
      ).toBe(true);
      away.onApplicationShutdown();
    } finally {
      warned.mockRestore();
      logged.mockRestore();
    }
  });
});
