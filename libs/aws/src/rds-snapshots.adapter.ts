import {
  CreateDBSnapshotCommand,
  DBInstanceNotFoundFault,
  DBSnapshotAlreadyExistsFault,
  DBSnapshotNotFoundFault,
  DeleteDBSnapshotCommand,
  DescribeDBSnapshotsCommand,
  InvalidDBInstanceStateFault,
  InvalidDBSnapshotStateFault,
  SnapshotQuotaExceededFault,
  type DBSnapshot,
} from '@aws-sdk/client-rds';
import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';
import type { AwsClientSet } from './aws-clients';
import { toProvisioningError } from './aws-error-classification';
import { fromAwsTags, TENANT_ID_TAG, toAwsTags, type Tags } from './aws-tags';
import { goneMeanwhile, quota, rejected } from './rds-errors';

/** The most snapshots or automated backups one page of RDS's describe calls holds (RDS's maximum). */
export const SNAPSHOT_PAGE_SIZE = 100;

export interface SnapshotView {
  identifier: string;
  arn: string;
  type: 'manual' | 'automated';
  /** RDS's status: `creating`, `available`, … */
  status: string;
  /** null while RDS has not set it (a snapshot still `creating`). */
  createdAt: Date | null;
  instanceIdentifier: string;
  engineVersion: string;
  encrypted: boolean;
  kmsKeyId: string | null;
  /** GiB. */
  allocatedStorage: number;
  tags: Record<string, string>;
}

export interface SnapshotOptions {
  /** Tags of the snapshot (RDS copies none from the instance once tags are given). */
  tags: Tags;
  /** The tenant the instance belongs to: always written as the `silo:tenant-id` tag. */
  ownerTenantId: string;
}

/** Snapshots of RDS instances, in one region. Reached through {@link RdsInstances}, whose regional clients it uses. */
export class RdsSnapshots {
  constructor(private readonly aws: Pick<AwsClientSet, 'rds'>) {}

  /**
   * Takes a manual snapshot of the instance, tagged `options.tags` and `silo:tenant-id`. A snapshot
   * of that name of the same instance and tenant counts as taken ('already-exists'); any other is
   * RESOURCE_NAME_TAKEN and left alone. An instance that cannot be snapshotted in its current state
   * is AWS_UNAVAILABLE (retryable); a missing instance and the snapshot quota are AWS_REJECTED.
   */
  async createSnapshot(
    instanceIdentifier: string,
    snapshotIdentifier: string,
    options: SnapshotOptions,
  ): Promise<'created' | 'already-exists'> {
    try {
      await this.aws.rds.send(
        new CreateDBSnapshotCommand({
          DBInstanceIdentifier: instanceIdentifier,
          DBSnapshotIdentifier: snapshotIdentifier,
          Tags: toAwsTags({ ...options.tags, [TENANT_ID_TAG]: options.ownerTenantId }),
        }),
      );
      return 'created';
    } catch (error) {
      if (error instanceof DBSnapshotAlreadyExistsFault) {
        const existing = await this.snapshot(snapshotIdentifier);
        if (!existing) throw goneMeanwhile('DB snapshot', snapshotIdentifier, error);
        if (
          existing.instanceIdentifier === instanceIdentifier &&
          existing.tags[TENANT_ID_TAG] === options.ownerTenantId
        )
          return 'already-exists';
        throw new ProvisioningError(
          ProvisioningErrorCode.RESOURCE_NAME_TAKEN,
          `DB snapshot ${snapshotIdentifier} already exists and is not a snapshot of ${instanceIdentifier} for this tenant ` +
            `(it is of ${existing.instanceIdentifier || 'an unknown instance'}); it was left untouched`,
        );
      }
      if (error instanceof DBInstanceNotFoundFault)
        throw rejected(`CreateDBSnapshot: DB instance ${instanceIdentifier} not found`, error);
      if (error instanceof InvalidDBInstanceStateFault) {
        throw new ProvisioningError(
          ProvisioningErrorCode.AWS_UNAVAILABLE,
          `CreateDBSnapshot: ${instanceIdentifier} cannot be snapshotted in its current state (${error.message})`,
          { cause: error },
        );
      }
      if (error instanceof SnapshotQuotaExceededFault)
        throw quota('CreateDBSnapshot', 'manual DB snapshots', error);
      throw toProvisioningError(error, 'CreateDBSnapshot');
    }
  }

  /**
   * The instance's manual and automated snapshots (shared, public and AWS Backup ones left out),
   * oldest first, SNAPSHOT_PAGE_SIZE a page. Empty when there is no instance by that name.
   */
  async snapshots(instanceIdentifier: string): Promise<SnapshotView[]> {
    const found: SnapshotView[] = [];
    let marker: string | undefined;
    try {
      do {
        const page = await this.aws.rds.send(
          new DescribeDBSnapshotsCommand({
            DBInstanceIdentifier: instanceIdentifier,
            MaxRecords: SNAPSHOT_PAGE_SIZE,
            Marker: marker,
          }),
        );
        for (const s of page.DBSnapshots ?? []) {
          const view = toSnapshotView(s);
          if (view && view.instanceIdentifier === instanceIdentifier) found.push(view);
        }
        marker = page.Marker;
      } while (marker);
    } catch (error) {
      throw toProvisioningError(error, 'DescribeDBSnapshots');
    }
    return found.sort((a, b) => (a.createdAt?.getTime() ?? Infinity) - (b.createdAt?.getTime() ?? Infinity));
  }

  /** The snapshot (manual or automated), or null when there is none by that name. */
  async snapshot(identifier: string): Promise<SnapshotView | null> {
    try {
      const { DBSnapshots } = await this.aws.rds.send(
        new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: identifier }),
      );
      const found = DBSnapshots?.find((s) => s.DBSnapshotIdentifier === identifier);
      return found ? toSnapshotView(found) : null;
    } catch (error) {
      if (error instanceof DBSnapshotNotFoundFault) return null;
      throw toProvisioningError(error, 'DescribeDBSnapshots');
    }
  }

  /**
   * Deletes a manual snapshot; one already gone is 'gone'. An automated snapshot is AWS_REJECTED
   * (RDS expires those with the instance's backup retention); one still being made is
   * AWS_UNAVAILABLE (retryable).
   */
  async deleteSnapshot(identifier: string): Promise<'deleted' | 'gone'> {
    const current = await this.snapshot(identifier);
    if (!current) return 'gone';
    if (current.type === 'automated')
      throw rejected(
        `DeleteDBSnapshot: ${identifier} is an automated snapshot; RDS deletes those itself when they pass the backup retention period`,
      );
    try {
      await this.aws.rds.send(new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: identifier }));
      return 'deleted';
    } catch (error) {
      if (error instanceof DBSnapshotNotFoundFault) return 'gone';
      if (error instanceof InvalidDBSnapshotStateFault) {
        throw new ProvisioningError(
          ProvisioningErrorCode.AWS_UNAVAILABLE,
          `DeleteDBSnapshot: ${identifier} cannot be deleted in its current state (${error.message})`,
          { cause: error },
        );
      }
      throw toProvisioningError(error, 'DeleteDBSnapshot');
    }
  }
}

function toSnapshotView(s: DBSnapshot): SnapshotView | null {
  if (s.SnapshotType !== 'manual' && s.SnapshotType !== 'automated') return null;
  return {
    identifier: s.DBSnapshotIdentifier ?? '',
    arn: s.DBSnapshotArn ?? '',
    type: s.SnapshotType,
    status: s.Status ?? 'unknown',
    createdAt: s.SnapshotCreateTime ?? null,
    instanceIdentifier: s.DBInstanceIdentifier ?? '',
    engineVersion: s.EngineVersion ?? '',
    encrypted: Boolean(s.Encrypted),
    kmsKeyId: s.KmsKeyId ?? null,
    allocatedStorage: s.AllocatedStorage ?? 0,
    tags: fromAwsTags(s.TagList),
  };
}
