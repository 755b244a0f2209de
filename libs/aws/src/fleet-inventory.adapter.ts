import {
  DescribeAlarmsCommand,
  ListTagsForResourceCommand,
  type MetricAlarm,
} from '@aws-sdk/client-cloudwatch';
import {
  AddTagsToResourceCommand,
  DBInstanceNotFoundFault,
  DBSnapshotNotFoundFault,
  DeleteDBSnapshotCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBInstanceCommand,
  type DBInstance,
} from '@aws-sdk/client-rds';
import {
  DescribeSecretCommand,
  ListSecretsCommand,
  ResourceNotFoundException,
  TagResourceCommand,
} from '@aws-sdk/client-secrets-manager';
import { Inject, Injectable } from '@nestjs/common';
import { awsCall, toProvisioningError } from './aws-error-classification';
import { AwsClients, regionalAdapter, type AwsClientSet } from './aws-clients';
import { fromAwsTags, toAwsTags, type Tags } from './aws-tags';

/** The most items one page of DescribeDBInstances, DescribeDBSnapshots, ListSecrets and DescribeAlarms holds. */
export const FLEET_PAGE_SIZE = 100;

/** What the reconciler compares of an instance. */
export interface FleetInstance {
  identifier: string;
  arn: string;
  status: string;
  instanceClass: string;
  allocatedStorageGiB: number;
  multiAz: boolean;
  storageEncrypted: boolean;
  kmsKeyId: string | null;
  publiclyAccessible: boolean;
  deletionProtection: boolean;
  backupRetentionDays: number;
  copyTagsToSnapshot: boolean;
  /** `16.4`; empty when RDS does not say. */
  engineVersion: string;
  /** The DB parameter groups it is in (one on RDS for PostgreSQL), with RDS's apply status (`in-sync`, `pending-reboot`, `applying`). */
  parameterGroups: { name: string; applyStatus: string }[];
  tags: Record<string, string>;
}

export interface FleetSecret {
  name: string;
  arn: string;
  /** Set when the secret is scheduled for deletion. */
  deletedDate: Date | null;
  tags: Record<string, string>;
}

export interface FleetSnapshot {
  identifier: string;
  arn: string;
  instanceIdentifier: string;
  createdAt: Date | null;
  tags: Record<string, string>;
}

/** An alarm as the reconciler compares it with its spec. */
export interface FleetAlarm {
  name: string;
  arn: string;
  namespace: string;
  metric: string;
  comparison: string;
  threshold: number;
  statistic: string;
  period: number;
  evaluationPeriods: number;
  dimensions: Record<string, string>;
  actionsEnabled: boolean;
  alarmActions: string[];
  okActions: string[];
}

/** The settings the reconciler repairs on an instance, each only when given. */
export interface InstanceProtection {
  deletionProtection?: boolean;
  backupRetentionDays?: number;
  copyTagsToSnapshot?: boolean;
}

/**
 * Reads the whole fleet in pages (never one call per tenant per resource) and applies the
 * reconciler's repairs. Every call goes through {@link AwsClients}, so a test or bench can count
 * them with SDK middleware.
 */
@Injectable()
export class FleetInventory {
  private readonly regions = new Map<string, FleetInventory>();

  constructor(@Inject(AwsClients) private readonly aws: AwsClientSet) {}

  /** The region this adapter works in. */
  get region(): string {
    return this.aws.region;
  }

  /** The same adapter in `region` (that region's clients; made once per region). */
  inRegion(region: string): FleetInventory {
    return regionalAdapter(
      this,
      this.aws.region,
      this.regions,
      region,
      () => new FleetInventory(this.aws.forRegion(region)),
    );
  }

  /** Every instance whose identifier starts with `prefix-`, FLEET_PAGE_SIZE a page. */
  async instances(prefix: string): Promise<FleetInstance[]> {
    const found: FleetInstance[] = [];
    let marker: string | undefined;
    do {
      const page = await awsCall('DescribeDBInstances', () =>
        this.aws.rds.send(new DescribeDBInstancesCommand({ MaxRecords: FLEET_PAGE_SIZE, Marker: marker })),
      );
      for (const i of page.DBInstances ?? []) {
        if (i.DBInstanceIdentifier?.startsWith(`${prefix}-`)) found.push(toInstance(i));
      }
      marker = page.Marker;
    } while (marker);
    return found;
  }

  /** Every secret whose name starts with `prefix/`, those scheduled for deletion included. */
  async secrets(prefix: string): Promise<FleetSecret[]> {
    const found: FleetSecret[] = [];
    let token: string | undefined;
    do {
      const page = await awsCall('ListSecrets', () =>
        this.aws.secretsManager.send(
          new ListSecretsCommand({
            Filters: [{ Key: 'name', Values: [`${prefix}/`] }],
            IncludePlannedDeletion: true,
            MaxResults: FLEET_PAGE_SIZE,
            NextToken: token,
          }),
        ),
      );
      for (const s of page.SecretList ?? []) {
        // The name filter is a prefix match on AWS; checked again in case an emulator is looser.
        if (!s.Name?.startsWith(`${prefix}/`)) continue;
        found.push({
          name: s.Name,
          arn: s.ARN ?? s.Name,
          deletedDate: s.DeletedDate ?? null,
          tags: fromAwsTags(s.Tags),
        });
      }
      token = page.NextToken;
    } while (token);
    return found;
  }

  /**
   * Every manual snapshot named `prefix-…` and tagged `managed-by=silo` (final snapshots carry
   * the instance's tags). RDS cannot filter snapshots by name prefix: the pages hold them all.
   */
  async snapshots(prefix: string): Promise<FleetSnapshot[]> {
    const found: FleetSnapshot[] = [];
    let marker: string | undefined;
    do {
      const page = await awsCall('DescribeDBSnapshots', () =>
        this.aws.rds.send(
          new DescribeDBSnapshotsCommand({
            SnapshotType: 'manual',
            MaxRecords: FLEET_PAGE_SIZE,
            Marker: marker,
          }),
        ),
      );
      for (const s of page.DBSnapshots ?? []) {
        const tags = fromAwsTags(s.TagList);
        if (tags['managed-by'] !== 'silo' || !s.DBSnapshotIdentifier?.startsWith(`${prefix}-`)) continue;
        found.push({
          identifier: s.DBSnapshotIdentifier,
          arn: s.DBSnapshotArn ?? s.DBSnapshotIdentifier,
          instanceIdentifier: s.DBInstanceIdentifier ?? '',
          createdAt: s.SnapshotCreateTime ?? null,
          tags,
        });
      }
      marker = page.Marker;
    } while (marker);
    return found;
  }

  /** The named alarms that exist, FLEET_PAGE_SIZE names a call. */
  async alarms(names: readonly string[]): Promise<FleetAlarm[]> {
    const found: FleetAlarm[] = [];
    for (let at = 0; at < names.length; at += FLEET_PAGE_SIZE) {
      const chunk = names.slice(at, at + FLEET_PAGE_SIZE);
      const out = await awsCall('DescribeAlarms', () =>
        this.aws.cloudWatch.send(
          new DescribeAlarmsCommand({
            AlarmNames: [...chunk],
            AlarmTypes: ['MetricAlarm'],
            MaxRecords: FLEET_PAGE_SIZE,
          }),
        ),
      );
      found.push(...(out.MetricAlarms ?? []).map(toAlarm));
    }
    return found;
  }

  /** An alarm's tags (DescribeAlarms does not return them). */
  async alarmTags(arn: string): Promise<Record<string, string>> {
    const out = await awsCall('ListTagsForResource', () =>
      this.aws.cloudWatch.send(new ListTagsForResourceCommand({ ResourceARN: arn })),
    );
    return fromAwsTags(out.Tags);
  }

  /** Puts back deletion protection, backup retention and copy-tags-to-snapshot, at once. */
  async protectInstance(identifier: string, settings: InstanceProtection): Promise<void> {
    await awsCall('ModifyDBInstance', () =>
      this.aws.rds.send(
        new ModifyDBInstanceCommand({
          DBInstanceIdentifier: identifier,
          DeletionProtection: settings.deletionProtection,
          BackupRetentionPeriod: settings.backupRetentionDays,
          CopyTagsToSnapshot: settings.copyTagsToSnapshot,
          ApplyImmediately: true,
        }),
      ),
    );
  }

  /** Adds or overwrites tags on an instance (by ARN); other tags stay. */
  async tagInstance(arn: string, tags: Tags): Promise<void> {
    await awsCall('AddTagsToResource', () =>
      this.aws.rds.send(new AddTagsToResourceCommand({ ResourceName: arn, Tags: toAwsTags(tags) })),
    );
  }

  /** Adds or overwrites tags on a secret; other tags stay. */
  async tagSecret(nameOrArn: string, tags: Tags): Promise<void> {
    await awsCall('TagResource', () =>
      this.aws.secretsManager.send(new TagResourceCommand({ SecretId: nameOrArn, Tags: toAwsTags(tags) })),
    );
  }

  /**
   * The tags a resource carries now, or null when it is gone (a secret scheduled for deletion
   * counts as gone). Read before deleting an orphan, so that nothing is deleted on the word of
   * an earlier pass.
   */
  async tagsOf(
    type: 'instance' | 'secret' | 'alarm' | 'snapshot',
    name: string,
  ): Promise<Record<string, string> | null> {
    try {
      switch (type) {
        case 'instance': {
          const out = await this.aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: name }));
          const found = out.DBInstances?.find((i) => i.DBInstanceIdentifier === name);
          return found ? fromAwsTags(found.TagList) : null;
        }
        case 'snapshot': {
          const out = await this.aws.rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: name }));
          const found = out.DBSnapshots?.find((s) => s.DBSnapshotIdentifier === name);
          return found ? fromAwsTags(found.TagList) : null;
        }
        case 'secret': {
          const out = await this.aws.secretsManager.send(new DescribeSecretCommand({ SecretId: name }));
          return out.DeletedDate ? null : fromAwsTags(out.Tags);
        }
        case 'alarm': {
          const [alarm] = await this.alarms([name]);
          return alarm ? this.alarmTags(alarm.arn) : null;
        }
      }
    } catch (error) {
      if (
        error instanceof DBInstanceNotFoundFault ||
        error instanceof DBSnapshotNotFoundFault ||
        error instanceof ResourceNotFoundException
      ) {
        return null;
      }
      throw toProvisioningError(error, `reading the tags of ${type} ${name}`);
    }
  }

  /** Deletes a manual snapshot; one already gone is fine. */
  async deleteSnapshot(identifier: string): Promise<'deleted' | 'gone'> {
    try {
      await this.aws.rds.send(new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: identifier }));
      return 'deleted';
    } catch (error) {
      if (error instanceof DBSnapshotNotFoundFault) return 'gone';
      throw toProvisioningError(error, 'DeleteDBSnapshot');
    }
  }
}

function toInstance(i: DBInstance): FleetInstance {
  return {
    identifier: i.DBInstanceIdentifier ?? '',
    arn: i.DBInstanceArn ?? '',
    status: i.DBInstanceStatus ?? 'unknown',
    instanceClass: i.DBInstanceClass ?? '',
    allocatedStorageGiB: i.AllocatedStorage ?? 0,
    multiAz: Boolean(i.MultiAZ),
    storageEncrypted: Boolean(i.StorageEncrypted),
    kmsKeyId: i.KmsKeyId ?? null,
    publiclyAccessible: Boolean(i.PubliclyAccessible),
    deletionProtection: Boolean(i.DeletionProtection),
    backupRetentionDays: i.BackupRetentionPeriod ?? 0,
    copyTagsToSnapshot: Boolean(i.CopyTagsToSnapshot),
    engineVersion: i.EngineVersion ?? '',
    parameterGroups: (i.DBParameterGroups ?? []).map((g) => ({
      name: g.DBParameterGroupName ?? '',
      applyStatus: g.ParameterApplyStatus ?? 'unknown',
    })),
    tags: fromAwsTags(i.TagList),
  };
}

function toAlarm(a: MetricAlarm): FleetAlarm {
  return {
    name: a.AlarmName ?? '',
    arn: a.AlarmArn ?? '',
    namespace: a.Namespace ?? '',
    metric: a.MetricName ?? '',
    comparison: a.ComparisonOperator ?? '',
    threshold: a.Threshold ?? 0,
    statistic: a.Statistic ?? '',
    period: a.Period ?? 0,
    evaluationPeriods: a.EvaluationPeriods ?? 0,
    dimensions: Object.fromEntries((a.Dimensions ?? []).map((d) => [d.Name ?? '', d.Value ?? ''])),
    actionsEnabled: Boolean(a.ActionsEnabled),
    alarmActions: [...(a.AlarmActions ?? [])].sort(),
    okActions: [...(a.OKActions ?? [])].sort(),
  };
}
