import { PutMetricDataCommand, StandardUnit } from '@aws-sdk/client-cloudwatch';
import { Injectable } from '@nestjs/common';
import { awsCall } from './aws-error-classification';
import { AwsClients } from './aws-clients';

/** The CloudWatch namespace of the metrics Silo publishes itself (the worker's IAM policy allows only this one). */
export const SILO_METRIC_NAMESPACE = 'Silo';

/**
 * The provisioning queue's depth, as each worker publishes it (the same queue-wide value from every
 * replica: read it with the Maximum statistic). Dimension `ResourcePrefix`, so that several Silo
 * deployments can share an account.
 */
export const QUEUE_DEPTH_METRICS = {
  /** Jobs ready to run that no worker has taken yet: what worker autoscaling follows. */
  backlog: 'ProvisioningQueueBacklog',
  /** Jobs a worker is running. */
  active: 'ProvisioningQueueActive',
  /** Jobs waiting for a timer: a saga polling an instance, a step backing off. */
  delayed: 'ProvisioningQueueDelayed',
} as const;

export type QueueDepth = Record<keyof typeof QUEUE_DEPTH_METRICS, number>;

/** Publishes Silo's own metrics to CloudWatch. */
@Injectable()
export class QueueMetrics {
  constructor(private readonly aws: AwsClients) {}

  async publishDepth(resourcePrefix: string, depth: QueueDepth, at: Date): Promise<void> {
    const dimensions = [{ Name: 'ResourcePrefix', Value: resourcePrefix }];
    await awsCall('PutMetricData', () =>
      this.aws.cloudWatch.send(
        new PutMetricDataCommand({
          Namespace: SILO_METRIC_NAMESPACE,
          MetricData: (Object.keys(QUEUE_DEPTH_METRICS) as (keyof QueueDepth)[]).map((key) => ({
            MetricName: QUEUE_DEPTH_METRICS[key],
            Dimensions: dimensions,
            Timestamp: at,
            Value: depth[key],
            Unit: StandardUnit.Count,
          })),
        }),
      ),
    );
  }
}
