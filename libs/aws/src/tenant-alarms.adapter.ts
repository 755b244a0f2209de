import {
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  PutMetricAlarmCommand,
  TagResourceCommand,
  type ComparisonOperator,
  type MetricAlarm,
} from '@aws-sdk/client-cloudwatch';
import { Inject, Injectable } from '@nestjs/common';
import { awsCall } from './aws-error-classification';
import { AwsClients, regionalAdapter, type AwsClientSet } from './aws-clients';
import { toAwsTags, type Tags } from './aws-tags';

export interface AlarmSpec {
  name: string;
  metric: 'CPUUtilization' | 'FreeStorageSpace' | 'DatabaseConnections' | 'FreeableMemory';
  comparison: Extract<ComparisonOperator, 'GreaterThanThreshold' | 'LessThanThreshold'>;
  threshold: number;
  instanceIdentifier: string;
  description: string;
  /** SNS topic ARNs notified on ALARM and OK. */
  actions: readonly string[];
  tags: Tags;
}

export interface AlarmView {
  name: string;
  metric: string;
  comparison: string;
  threshold: number;
  state: string;
  stateReason: string;
  updatedAt: Date | null;
}

export const ALARM_STATES = ['ALARM', 'INSUFFICIENT_DATA', 'OK'] as const;
export type AlarmState = (typeof ALARM_STATES)[number];

/** How every tenant alarm evaluates its metric (the reconciler compares alarms against these). */
export const ALARM_EVALUATION = {
  namespace: 'AWS/RDS',
  statistic: 'Average',
  periodSeconds: 300,
  evaluationPeriods: 3,
} as const;

/** CloudWatch metric alarms on tenant RDS instances. */
@Injectable()
export class TenantAlarms {
  private readonly regions = new Map<string, TenantAlarms>();

  constructor(@Inject(AwsClients) private readonly aws: AwsClientSet) {}

  /** The region this adapter works in. */
  get region(): string {
    return this.aws.region;
  }

  /** The same adapter in `region` (that region's clients; made once per region). */
  inRegion(region: string): TenantAlarms {
    return regionalAdapter(
      this,
      this.aws.region,
      this.regions,
      region,
      () => new TenantAlarms(this.aws.forRegion(region)),
    );
  }

  /** Creates or updates the alarm (PutMetricAlarm is an upsert). */
  async put(alarm: AlarmSpec): Promise<void> {
    await awsCall('PutMetricAlarm', () =>
      this.aws.cloudWatch.send(
        new PutMetricAlarmCommand({
          AlarmName: alarm.name,
          AlarmDescription: alarm.description,
          Namespace: ALARM_EVALUATION.namespace,
          MetricName: alarm.metric,
          Dimensions: [{ Name: 'DBInstanceIdentifier', Value: alarm.instanceIdentifier }],
          Statistic: ALARM_EVALUATION.statistic,
          Period: ALARM_EVALUATION.periodSeconds,
          EvaluationPeriods: ALARM_EVALUATION.evaluationPeriods,
          DatapointsToAlarm: ALARM_EVALUATION.evaluationPeriods,
          Threshold: alarm.threshold,
          ComparisonOperator: alarm.comparison,
          TreatMissingData: 'missing',
          ActionsEnabled: alarm.actions.length > 0,
          AlarmActions: alarm.actions.length ? [...alarm.actions] : undefined,
          OKActions: alarm.actions.length ? [...alarm.actions] : undefined,
          Tags: toAwsTags(alarm.tags),
        }),
      ),
    );
  }

  /** The named alarms that exist. */
  async describe(names: readonly string[]): Promise<AlarmView[]> {
    if (!names.length) return [];
    const out = await awsCall('DescribeAlarms', () =>
      this.aws.cloudWatch.send(
        new DescribeAlarmsCommand({ AlarmNames: [...names], AlarmTypes: ['MetricAlarm'] }),
      ),
    );
    return (out.MetricAlarms ?? []).map(toView);
  }

  /**
   * Sets `tags` on those of the named alarms that exist. PutMetricAlarm takes tags only when it
   * creates an alarm, so changing a tag of an existing one needs this.
   */
  async tag(names: readonly string[], tags: Tags): Promise<void> {
    if (!names.length) return;
    const out = await awsCall('DescribeAlarms', () =>
      this.aws.cloudWatch.send(
        new DescribeAlarmsCommand({ AlarmNames: [...names], AlarmTypes: ['MetricAlarm'] }),
      ),
    );
    for (const alarm of out.MetricAlarms ?? []) {
      if (!alarm.AlarmArn) continue;
      await awsCall('TagResource', () =>
        this.aws.cloudWatch.send(
          new TagResourceCommand({ ResourceARN: alarm.AlarmArn, Tags: toAwsTags(tags) }),
        ),
      );
    }
  }

  /**
   * Every metric alarm whose name starts with `<prefix>-`, in any state, read in pages of 100:
   * one call per hundred alarms, whatever the number of callers. `signal` aborts the call in
   * flight and reads no further page.
   */
  async withPrefix(prefix: string, signal?: AbortSignal): Promise<AlarmView[]> {
    const found: AlarmView[] = [];
    let next: string | undefined;
    do {
      const page = await awsCall('DescribeAlarms', () =>
        this.aws.cloudWatch.send(
          new DescribeAlarmsCommand({
            AlarmNamePrefix: `${prefix}-`,
            AlarmTypes: ['MetricAlarm'],
            MaxRecords: 100,
            NextToken: next,
          }),
          { abortSignal: signal },
        ),
      );
      found.push(
        ...(page.MetricAlarms ?? []).filter((a) => a.AlarmName?.startsWith(`${prefix}-`)).map(toView),
      );
      next = page.NextToken;
    } while (next);
    return found;
  }

  /** Deletes those of the named alarms that exist; none existing is fine. */
  async delete(names: readonly string[]): Promise<void> {
    const existing = (await this.describe(names)).map((a) => a.name);
    if (!existing.length) return;
    await awsCall('DeleteAlarms', () =>
      this.aws.cloudWatch.send(new DeleteAlarmsCommand({ AlarmNames: existing })),
    );
  }
}

function toView(a: MetricAlarm): AlarmView {
  return {
    name: a.AlarmName ?? '',
    metric: a.MetricName ?? '',
    comparison: a.ComparisonOperator ?? '',
    threshold: a.Threshold ?? 0,
    state: a.StateValue ?? 'INSUFFICIENT_DATA',
    stateReason: a.StateReason ?? '',
    updatedAt: a.StateUpdatedTimestamp ?? null,
  };
}
