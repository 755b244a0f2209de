import {
  DBInstanceAlreadyExistsFault,
  DBInstanceAutomatedBackupNotFoundFault,
  DBInstanceNotFoundFault,
  DBParameterGroupNotFoundFault,
  DBSnapshotNotFoundFault,
  DescribeDBInstanceAutomatedBackupsCommand,
  DescribeDBInstancesCommand,
  InstanceQuotaExceededFault,
  InvalidDBInstanceStateFault,
  InvalidDBSnapshotStateFault,
  InvalidRestoreFault,
  PointInTimeRestoreNotEnabledFault,
  RestoreDBInstanceFromDBSnapshotCommand,
  RestoreDBInstanceToPointInTimeCommand,
  SnapshotQuotaExceededFault,
  StorageQuotaExceededFault,
  type DBInstance,
} from '@aws-sdk/client-rds';
import { ProvisioningError, ProvisioningErrorCode, RESTORED_FROM_TAG } from '@silo/core';
import type { AwsClientSet } from './aws-clients';
import { toProvisioningError } from './aws-error-classification';
import { fromAwsTags, TENANT_ID_TAG, toAwsTags } from './aws-tags';
import { errorName, goneMeanwhile, messageOf, quota, rejected } from './rds-errors';
import type { InstanceSpec } from './rds-instances.adapter';
import { parameterGroupFamily, parameterGroupTags, RdsParameterGroups } from './rds-parameter-groups';
import { SNAPSHOT_PAGE_SIZE } from './rds-snapshots.adapter';

/** What a restored instance was restored from (libs/core): re-exported beside the restores that set it. */
export { RESTORED_FROM_TAG };

/** The span a point-in-time restore of an instance may target, both ends included. */
export interface RestorableWindow {
  earliest: Date;
  latest: Date;
  /**
   * Where `earliest` came from: RDS's own `RestoreWindow.EarliestTime` of the instance's automated
   * backups, or, when RDS does not give one (moto never does), the estimate
   * `max(InstanceCreateTime, now − BackupRetentionPeriod days)`.
   */
  earliestFrom: 'automated-backups' | 'retention-period';
}

/**
 * The settings a restored instance gets: those an instance of its tier gets at creation (an
 * {@link InstanceSpec} fits). `engineVersion` only picks the parameter group's family: a restore
 * keeps its source's engine version, which must be of that family. `storage.allocatedGiB` must be at
 * least the source's, or RDS refuses the restore.
 */
export type RestoreTarget = Pick<
  InstanceSpec,
  | 'identifier'
  | 'engineVersion'
  | 'instanceClass'
  | 'storage'
  | 'multiAz'
  | 'deletionProtection'
  | 'backupRetentionDays'
  | 'subnetGroupName'
  | 'securityGroupIds'
  | 'parameterGroupName'
  | 'tags'
>;

export interface SnapshotRestoreSpec {
  snapshotIdentifier: string;
  target: RestoreTarget;
  ownerTenantId: string;
}

export interface PointInTimeRestoreSpec {
  sourceInstanceIdentifier: string;
  /** A moment inside {@link RdsRestores.restorableWindow}, or `latest` (LatestRestorableTime). */
  restoreTime: Date | 'latest';
  target: RestoreTarget;
  ownerTenantId: string;
}

/**
 * - `created`: RDS accepted the restore; the new instance is `creating` until it is `available`;
 * - `already-exists`: the target is there, tagged as this tenant's restore of the same source
 *   (a re-run after a crash).
 */
export type RestoreOutcome = 'created' | 'already-exists';

/**
 * New RDS instances restored from a snapshot or from an instance's automated backups (point in
 * time), with their tier's settings, in one region. Reached through {@link RdsInstances}, whose
 * regional clients it uses.
 */
export class RdsRestores {
  constructor(
    private readonly aws: Pick<AwsClientSet, 'rds'>,
    private readonly parameterGroups = new RdsParameterGroups(aws),
  ) {}

  /**
   * The span a point-in-time restore of the instance may target, or null when there is none: no
   * such instance, automated backups off (retention 0), or no LatestRestorableTime yet (a new
   * instance before its first backup). DescribeDBInstances has no earliest time: it is taken from
   * DescribeDBInstanceAutomatedBackups (`RestoreWindow.EarliestTime` of this instance's, matched by
   * DbiResourceId) and, when RDS gives none there, estimated as
   * `max(InstanceCreateTime, now − BackupRetentionPeriod days)`; `earliestFrom` says which.
   */
  async restorableWindow(instanceIdentifier: string): Promise<RestorableWindow | null> {
    const instance = await this.instance(instanceIdentifier);
    const latest = instance?.LatestRestorableTime;
    if (!instance || !latest || !instance.BackupRetentionPeriod) return null;
    const fromBackups = await this.earliestFromAutomatedBackups(instance);
    if (fromBackups) {
      return {
        earliest: new Date(Math.min(fromBackups.getTime(), latest.getTime())),
        latest,
        earliestFrom: 'automated-backups',
      };
    }
    const byRetention = Date.now() - instance.BackupRetentionPeriod * 24 * 60 * 60 * 1000;
    const created = instance.InstanceCreateTime?.getTime() ?? byRetention;
    return {
      earliest: new Date(Math.min(Math.max(created, byRetention), latest.getTime())),
      latest,
      earliestFrom: 'retention-period',
    };
  }

  /**
   * Restores the snapshot into the new instance `spec.target.identifier`, with the settings its tier
   * gives a new instance (class, gp3 storage with its IOPS and throughput, Multi-AZ, deletion
   * protection, backup retention, subnet and security groups, private, tags copied to snapshots,
   * minor upgrades on, the tenant's tags and {@link RESTORED_FROM_TAG}), in Silo's parameter group
   * (made or found first, as for a new instance). It stays encrypted with the snapshot's KMS key: RestoreDBInstanceFromDBSnapshot
   * takes no key. It keeps the snapshot's master user and password and starts without Performance
   * Insights, which the restore does not take: set both once it is available.
   *
   * A missing snapshot, a quota and a refused setting are AWS_REJECTED with RDS's message; a
   * snapshot still being made and throttling are AWS_UNAVAILABLE (retryable).
   */
  async restoreFromSnapshot(spec: SnapshotRestoreSpec): Promise<RestoreOutcome> {
    const operation = 'RestoreDBInstanceFromDBSnapshot';
    const source = `snapshot:${spec.snapshotIdentifier}`;
    await this.ensureParameterGroup(spec.target);
    try {
      await this.aws.rds.send(
        new RestoreDBInstanceFromDBSnapshotCommand({
          DBInstanceIdentifier: spec.target.identifier,
          DBSnapshotIdentifier: spec.snapshotIdentifier,
          ...restoreRequest(spec.target, spec.ownerTenantId, source),
        }),
      );
      return 'created';
    } catch (error) {
      if (error instanceof DBSnapshotNotFoundFault)
        throw rejected(`${operation}: DB snapshot ${spec.snapshotIdentifier} not found`, error);
      if (error instanceof InvalidDBSnapshotStateFault) {
        throw new ProvisioningError(
          ProvisioningErrorCode.AWS_UNAVAILABLE,
          `${operation}: DB snapshot ${spec.snapshotIdentifier} cannot be restored yet (${error.message})`,
          { cause: error },
        );
      }
      return this.restoreFailed(operation, error, spec, source);
    }
  }

  /**
   * Restores the source instance as it was at `spec.restoreTime` (or its latest restorable time)
   * into the new instance `spec.target.identifier`, with the settings its tier gives a new instance
   * (as {@link RdsRestores.restoreFromSnapshot}), in Silo's parameter group (made or found first). It stays encrypted
   * with the source's KMS key (RestoreDBInstanceToPointInTime takes no key), keeps the source's
   * master user and password and starts without Performance Insights: set both once it is
   * available.
   *
   * A restore time outside the restorable window, a source without automated backups or gone, a
   * quota and a refused setting are AWS_REJECTED naming the problem; a source in a state that
   * cannot be restored from and throttling are AWS_UNAVAILABLE (retryable).
   */
  async restoreToPointInTime(spec: PointInTimeRestoreSpec): Promise<RestoreOutcome> {
    const operation = 'RestoreDBInstanceToPointInTime';
    const time = spec.restoreTime === 'latest' ? undefined : spec.restoreTime;
    const at = time ? time.toISOString() : 'latest';
    const what = `${spec.sourceInstanceIdentifier} at ${time ? at : 'its latest restorable time'}`;
    const source = `instance:${spec.sourceInstanceIdentifier}@${at}`;
    await this.ensureParameterGroup(spec.target);
    try {
      await this.aws.rds.send(
        new RestoreDBInstanceToPointInTimeCommand({
          SourceDBInstanceIdentifier: spec.sourceInstanceIdentifier,
          TargetDBInstanceIdentifier: spec.target.identifier,
          RestoreTime: time,
          UseLatestRestorableTime: time ? undefined : true,
          ...restoreRequest(spec.target, spec.ownerTenantId, source),
        }),
      );
      return 'created';
    } catch (error) {
      if (error instanceof InvalidRestoreFault)
        throw rejected(`${operation}: ${what} is not restorable (${error.message})`, error);
      if (error instanceof PointInTimeRestoreNotEnabledFault)
        throw rejected(
          `${operation}: ${spec.sourceInstanceIdentifier} has no automated backups (backup retention 0) to restore from`,
          error,
        );
      if (error instanceof DBInstanceNotFoundFault)
        throw rejected(`${operation}: source DB instance ${spec.sourceInstanceIdentifier} not found`, error);
      if (error instanceof InvalidDBInstanceStateFault) {
        throw new ProvisioningError(
          ProvisioningErrorCode.AWS_UNAVAILABLE,
          `${operation}: ${spec.sourceInstanceIdentifier} cannot be restored from in its current state (${error.message})`,
          { cause: error },
        );
      }
      if (errorName(error) === 'InvalidParameterValue')
        throw rejected(`${operation}: RDS refused the restore of ${what}: ${messageOf(error)}`, error);
      return this.restoreFailed(operation, error, spec, source);
    }
  }

  private async ensureParameterGroup(target: RestoreTarget): Promise<void> {
    await this.parameterGroups.ensure({
      name: target.parameterGroupName,
      family: parameterGroupFamily(target.engineVersion),
      tags: parameterGroupTags(target.tags),
    });
  }

  /** The failures both restores share: a target already there, the parameter group gone, quotas. */
  private async restoreFailed(
    operation: string,
    error: unknown,
    spec: { target: RestoreTarget; ownerTenantId: string },
    source: string,
  ): Promise<RestoreOutcome> {
    const target = spec.target.identifier;
    if (error instanceof DBInstanceAlreadyExistsFault) {
      const existing = await this.instance(target);
      if (!existing) throw goneMeanwhile('DB instance', target, error);
      const tags = fromAwsTags(existing.TagList);
      if (tags[TENANT_ID_TAG] === spec.ownerTenantId && tags[RESTORED_FROM_TAG] === source)
        return 'already-exists';
      throw new ProvisioningError(
        ProvisioningErrorCode.RESOURCE_NAME_TAKEN,
        `RDS instance ${target} already exists and is not this tenant's restore of ${source} ` +
          `(${RESTORED_FROM_TAG}: ${tags[RESTORED_FROM_TAG] ?? 'none'}); it was left untouched`,
      );
    }
    if (error instanceof DBParameterGroupNotFoundFault) {
      // Deleted since it was made or found: the next attempt makes it again.
      throw new ProvisioningError(
        ProvisioningErrorCode.AWS_UNAVAILABLE,
        `${operation}: DB parameter group ${spec.target.parameterGroupName} disappeared before ${target} was restored in it`,
        { cause: error },
      );
    }
    if (error instanceof InstanceQuotaExceededFault) throw quota(operation, 'DB instances', error);
    if (error instanceof StorageQuotaExceededFault) throw quota(operation, 'DB instance storage', error);
    if (error instanceof SnapshotQuotaExceededFault) throw quota(operation, 'DB snapshots', error);
    throw toProvisioningError(error, operation);
  }

  private async instance(identifier: string): Promise<DBInstance | null> {
    try {
      const { DBInstances } = await this.aws.rds.send(
        new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }),
      );
      return DBInstances?.find((i) => i.DBInstanceIdentifier === identifier) ?? null;
    } catch (error) {
      if (error instanceof DBInstanceNotFoundFault) return null;
      throw toProvisioningError(error, 'DescribeDBInstances');
    }
  }

  /** `RestoreWindow.EarliestTime` of the instance's own automated backups, when RDS gives one. */
  private async earliestFromAutomatedBackups(instance: DBInstance): Promise<Date | undefined> {
    const identifier = instance.DBInstanceIdentifier;
    let marker: string | undefined;
    let earliest: Date | undefined;
    try {
      do {
        const page = await this.aws.rds.send(
          new DescribeDBInstanceAutomatedBackupsCommand({
            DBInstanceIdentifier: identifier,
            MaxRecords: SNAPSHOT_PAGE_SIZE,
            Marker: marker,
          }),
        );
        for (const backup of page.DBInstanceAutomatedBackups ?? []) {
          // Backups retained from an earlier instance of the same name have another DbiResourceId.
          const own =
            backup.DbiResourceId && instance.DbiResourceId
              ? backup.DbiResourceId === instance.DbiResourceId
              : backup.DBInstanceIdentifier === identifier && backup.Status === 'active';
          const time = backup.RestoreWindow?.EarliestTime;
          if (own && time && (!earliest || time < earliest)) earliest = time;
        }
        marker = page.Marker;
      } while (marker);
    } catch (error) {
      if (error instanceof DBInstanceAutomatedBackupNotFoundFault) return undefined;
      throw toProvisioningError(error, 'DescribeDBInstanceAutomatedBackups');
    }
    return earliest;
  }
}

/**
 * The request fields a restore shares with CreateDBInstance for the tier's settings. Backup
 * retention is among them: both restores take BackupRetentionPeriod (without it the restored
 * instance inherits the source's). Performance Insights, the master password and the KMS key are
 * not: RDS's restores do not take them.
 */
function restoreRequest(target: RestoreTarget, ownerTenantId: string, source: string) {
  return {
    DBInstanceClass: target.instanceClass,
    AllocatedStorage: target.storage.allocatedGiB,
    StorageType: target.storage.type,
    Iops: target.storage.iops,
    StorageThroughput: target.storage.throughputMiBps,
    MultiAZ: target.multiAz,
    DeletionProtection: target.deletionProtection,
    BackupRetentionPeriod: target.backupRetentionDays,
    PubliclyAccessible: false,
    DBSubnetGroupName: target.subnetGroupName,
    DBParameterGroupName: target.parameterGroupName,
    VpcSecurityGroupIds: target.securityGroupIds.length ? [...target.securityGroupIds] : undefined,
    CopyTagsToSnapshot: true,
    AutoMinorVersionUpgrade: true,
    Tags: toAwsTags({
      ...target.tags,
      [TENANT_ID_TAG]: ownerTenantId,
      [RESTORED_FROM_TAG]: source,
    }),
  };
}
