import {
  CreateDBInstanceCommand,
  DBInstanceAlreadyExistsFault,
  DBInstanceNotFoundFault,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  InvalidDBInstanceStateFault,
  ModifyDBInstanceCommand,
  type DBInstance,
} from '@aws-sdk/client-rds';
import { Injectable } from '@nestjs/common';
import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';
import { toProvisioningError } from './aws-error-classification';
import { AwsClients } from './aws-clients';
import { fromAwsTags, TENANT_ID_TAG, toAwsTags, type Tags } from './aws-tags';

/** What Silo asks RDS for. The password is passed through to RDS and never kept. */
export interface InstanceSpec {
  identifier: string;
  engineVersion: string;
  instanceClass: string;
  databaseName: string;
  masterUsername: string;
  masterPassword: string;
  storage: { type: 'gp3'; allocatedGiB: number; iops?: number; throughputMiBps?: number };
  multiAz: boolean;
  deletionProtection: boolean;
  backupRetentionDays: number;
  performanceInsights: { enabled: false } | { enabled: true; retentionDays: number };
  kmsKeyId?: string;
  subnetGroupName?: string;
  securityGroupIds: readonly string[];
  tags: Tags;
}

export interface InstanceView {
  identifier: string;
  status: string;
  endpoint: { host: string; port: number } | null;
  instanceClass: string;
  engine: string;
  engineVersion: string;
  multiAz: boolean;
  storageEncrypted: boolean;
  deletionProtection: boolean;
  tags: Record<string, string>;
}

/** RDS states an instance does not leave by itself: provisioning fails at once on them. */
export const TERMINAL_INSTANCE_STATES = new Set([
  'failed',
  'incompatible-parameters',
  'incompatible-network',
  'incompatible-restore',
  'storage-full',
  'inaccessible-encryption-credentials',
  'inaccessible-encryption-credentials-recoverable',
]);

/** 'deleting': the delete was issued now; 'already-deleting': an earlier call issued it. */
export type DeleteOutcome = 'deleting' | 'already-deleting' | 'gone' | 'busy' | 'not-ours';

/** RDS for PostgreSQL instances, in Silo's words. */
@Injectable()
export class RdsInstances {
  constructor(private readonly aws: AwsClients) {}

  /**
   * Creates the instance. An instance of that name tagged for `ownerTenantId` counts as already
   * created (a re-run after a crash); one that is not ours is RESOURCE_NAME_TAKEN and left alone.
   */
  async create(spec: InstanceSpec, ownerTenantId: string): Promise<'created' | 'already-exists'> {
    const pi = spec.performanceInsights;
    try {
      await this.aws.rds.send(
        new CreateDBInstanceCommand({
          DBInstanceIdentifier: spec.identifier,
          Engine: 'postgres',
          EngineVersion: spec.engineVersion,
          DBInstanceClass: spec.instanceClass,
          DBName: spec.databaseName,
          MasterUsername: spec.masterUsername,
          MasterUserPassword: spec.masterPassword,
          AllocatedStorage: spec.storage.allocatedGiB,
          StorageType: spec.storage.type,
          Iops: spec.storage.iops,
          StorageThroughput: spec.storage.throughputMiBps,
          StorageEncrypted: true,
          KmsKeyId: spec.kmsKeyId,
          MultiAZ: spec.multiAz,
          DeletionProtection: spec.deletionProtection,
          BackupRetentionPeriod: spec.backupRetentionDays,
          EnablePerformanceInsights: pi.enabled,
          PerformanceInsightsRetentionPeriod: pi.enabled ? pi.retentionDays : undefined,
          PerformanceInsightsKMSKeyId: pi.enabled ? spec.kmsKeyId : undefined,
          PubliclyAccessible: false,
          DBSubnetGroupName: spec.subnetGroupName,
          VpcSecurityGroupIds: spec.securityGroupIds.length ? [...spec.securityGroupIds] : undefined,
          CopyTagsToSnapshot: true,
          AutoMinorVersionUpgrade: true,
          Tags: toAwsTags(spec.tags),
        }),
      );
      return 'created';
    } catch (error) {
      if (!(error instanceof DBInstanceAlreadyExistsFault))
        throw toProvisioningError(error, 'CreateDBInstance');
      const existing = await this.describe(spec.identifier);
      if (existing?.tags[TENANT_ID_TAG] === ownerTenantId) return 'already-exists';
      throw new ProvisioningError(
        ProvisioningErrorCode.RESOURCE_NAME_TAKEN,
        `RDS instance ${spec.identifier} already exists and is not tagged for this tenant; it was left untouched`,
      );
    }
  }

  /** The instance, or null when there is none by that name. */
  async describe(identifier: string): Promise<InstanceView | null> {
    try {
      const { DBInstances } = await this.aws.rds.send(
        new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }),
      );
      const found = DBInstances?.find((i) => i.DBInstanceIdentifier === identifier);
      return found ? toView(found) : null;
    } catch (error) {
      if (error instanceof DBInstanceNotFoundFault) return null;
      throw toProvisioningError(error, 'DescribeDBInstances');
    }
  }

  /**
   * Deletes the instance: lifts deletion protection first, takes a final snapshot when an
   * identifier is given, deletes automated backups. 'busy' means RDS cannot delete it in its
   * current state (still creating, modifying): call again later, never abandon it. An instance
   * not tagged for `ownerTenantId` is never touched ('not-ours').
   */
  async delete(
    identifier: string,
    options: { ownerTenantId: string; finalSnapshotIdentifier?: string },
  ): Promise<DeleteOutcome> {
    const current = await this.describe(identifier);
    if (!current) return 'gone';
    if (current.tags[TENANT_ID_TAG] !== options.ownerTenantId) return 'not-ours';
    if (current.status === 'deleting') return 'already-deleting';
    if (current.status === 'creating' || current.status === 'modifying' || current.status === 'backing-up')
      return 'busy';
    try {
      if (current.deletionProtection) {
        // Sent directly (not through awsCall) so that a not-found or wrong-state answer reaches the
        // handlers below.
        await this.aws.rds.send(
          new ModifyDBInstanceCommand({
            DBInstanceIdentifier: identifier,
            DeletionProtection: false,
            ApplyImmediately: true,
          }),
        );
      }
      await this.aws.rds.send(
        new DeleteDBInstanceCommand({
          DBInstanceIdentifier: identifier,
          SkipFinalSnapshot: !options.finalSnapshotIdentifier,
          FinalDBSnapshotIdentifier: options.finalSnapshotIdentifier,
          DeleteAutomatedBackups: true,
        }),
      );
      return 'deleting';
    } catch (error) {
      if (error instanceof DBInstanceNotFoundFault) return 'gone';
      if (error instanceof InvalidDBInstanceStateFault) return 'busy';
      throw toProvisioningError(error, 'DeleteDBInstance');
    }
  }
}

function toView(i: DBInstance): InstanceView {
  return {
    identifier: i.DBInstanceIdentifier ?? '',
    status: i.DBInstanceStatus ?? 'unknown',
    endpoint: i.Endpoint?.Address ? { host: i.Endpoint.Address, port: i.Endpoint.Port ?? 5432 } : null,
    instanceClass: i.DBInstanceClass ?? '',
    engine: i.Engine ?? '',
    engineVersion: i.EngineVersion ?? '',
    multiAz: Boolean(i.MultiAZ),
    storageEncrypted: Boolean(i.StorageEncrypted),
    deletionProtection: Boolean(i.DeletionProtection),
    tags: fromAwsTags(i.TagList),
  };
}
