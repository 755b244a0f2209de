import {
  CreateDBInstanceCommand,
  DBInstanceAlreadyExistsFault,
  DBInstanceNotFoundFault,
  DBParameterGroupNotFoundFault,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  InvalidDBInstanceStateFault,
  ModifyDBInstanceCommand,
  type DBInstance,
} from '@aws-sdk/client-rds';
import { Inject, Injectable } from '@nestjs/common';
import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';
import { toProvisioningError } from './aws-error-classification';
import { AwsClients, regionalAdapter, type AwsClientSet } from './aws-clients';
import { fromAwsTags, TENANT_ID_TAG, toAwsTags, type Tags } from './aws-tags';
import {
  parameterGroupFamily,
  parameterGroupTags,
  RdsParameterGroups,
  type ParameterGroupOutcome,
  type ParameterGroupSpec,
} from './rds-parameter-groups';
import {
  RdsRestores,
  type PointInTimeRestoreSpec,
  type RestorableWindow,
  type RestoreOutcome,
  type SnapshotRestoreSpec,
} from './rds-restores.adapter';
import { RdsSnapshots, type SnapshotOptions, type SnapshotView } from './rds-snapshots.adapter';

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
  /**
   * The DB parameter group the instance joins: Silo's own for the engine family
   * (`parameterGroupName(prefix, engineVersion)`), which {@link RdsInstances.create} makes first.
   */
  parameterGroupName: string;
  tags: Tags;
}

export interface InstanceView {
  identifier: string;
  arn: string;
  status: string;
  endpoint: { host: string; port: number } | null;
  instanceClass: string;
  engine: string;
  engineVersion: string;
  multiAz: boolean;
  storageEncrypted: boolean;
  deletionProtection: boolean;
  allocatedGiB: number;
  iops: number | null;
  throughputMiBps: number | null;
  backupRetentionDays: number;
  /** null when RDS does not describe it. */
  performanceInsights: { enabled: false } | { enabled: true; retentionDays: number } | null;
  /** What RDS will apply at the next maintenance window (or is applying now), by field. */
  pending: PendingModification;
  tags: Record<string, string>;
}

/** The parts of PendingModifiedValues that a Silo modification can leave behind. */
export interface PendingModification {
  instanceClass?: string;
  allocatedGiB?: number;
  iops?: number;
  throughputMiBps?: number;
  multiAz?: boolean;
  backupRetentionDays?: number;
}

/** What ModifyDBInstance is asked to change; fields left out stay as they are. */
export interface InstanceChanges {
  instanceClass?: string;
  storage?: { allocatedGiB: number; iops?: number; throughputMiBps?: number };
  multiAz?: boolean;
  deletionProtection?: boolean;
  backupRetentionDays?: number;
  performanceInsights?: { enabled: false } | { enabled: true; retentionDays: number };
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
  private readonly regions = new Map<string, RdsInstances>();
  private readonly parameterGroups: RdsParameterGroups;
  private readonly snapshotsOf: RdsSnapshots;
  private readonly restores: RdsRestores;

  constructor(@Inject(AwsClients) private readonly aws: AwsClientSet) {
    this.parameterGroups = new RdsParameterGroups(aws);
    this.snapshotsOf = new RdsSnapshots(aws);
    this.restores = new RdsRestores(aws, this.parameterGroups);
  }

  /** The region this adapter works in. */
  get region(): string {
    return this.aws.region;
  }

  /** The same adapter in `region` (that region's clients; made once per region). */
  inRegion(region: string): RdsInstances {
    return regionalAdapter(
      this,
      this.aws.region,
      this.regions,
      region,
      () => new RdsInstances(this.aws.forRegion(region)),
    );
  }

  /**
   * Makes Silo's parameter group `spec.parameterGroupName` (or finds it, see
   * {@link ensureParameterGroup}), tagged with the instance's `managed-by` and `silo:environment`,
   * then creates the instance in it. An instance of that name tagged for `ownerTenantId` counts as
   * already created (a re-run after a crash); one that is not ours is RESOURCE_NAME_TAKEN and left
   * alone, as is a parameter group of that name that is not Silo's.
   */
  async create(spec: InstanceSpec, ownerTenantId: string): Promise<'created' | 'already-exists'> {
    await this.ensureParameterGroup({
      name: spec.parameterGroupName,
      family: parameterGroupFamily(spec.engineVersion),
      tags: parameterGroupTags(spec.tags),
    });
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
          DBParameterGroupName: spec.parameterGroupName,
          VpcSecurityGroupIds: spec.securityGroupIds.length ? [...spec.securityGroupIds] : undefined,
          CopyTagsToSnapshot: true,
          AutoMinorVersionUpgrade: true,
          Tags: toAwsTags(spec.tags),
        }),
      );
      return 'created';
    } catch (error) {
      if (error instanceof DBParameterGroupNotFoundFault) {
        // Deleted since it was made or found above: the next attempt makes it again.
        throw new ProvisioningError(
          ProvisioningErrorCode.AWS_UNAVAILABLE,
          `CreateDBInstance: DB parameter group ${spec.parameterGroupName} disappeared before ${spec.identifier} was created in it`,
          { cause: error },
        );
      }
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

  /**
   * Makes Silo's parameter group in this region, the family's defaults with
   * `rds.logical_replication = 1` (static, `pending-reboot`), or finds it: one tagged with
   * `spec.tags` and of `spec.family` is reused, and logical replication set if it is not; one
   * that is not is RESOURCE_NAME_TAKEN and left alone. Throttling, 5xx and a group another call
   * is modifying are AWS_UNAVAILABLE (retryable), other refusals AWS_REJECTED with RDS's message.
   */
  ensureParameterGroup(spec: ParameterGroupSpec): Promise<ParameterGroupOutcome> {
    return this.parameterGroups.ensure(spec);
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
   * Asks RDS for `changes`: at once, or in the next maintenance window (`applyImmediately`
   * false: RDS still applies deletion protection, backup retention and Performance Insights at
   * once). An instance in a state that cannot be modified is AWS_UNAVAILABLE (retryable), a
   * combination RDS refuses is AWS_REJECTED with RDS's message.
   */
  async modify(
    identifier: string,
    changes: InstanceChanges,
    options: { applyImmediately: boolean; kmsKeyId?: string },
  ): Promise<void> {
    const pi = changes.performanceInsights;
    try {
      await this.aws.rds.send(
        new ModifyDBInstanceCommand({
          DBInstanceIdentifier: identifier,
          ApplyImmediately: options.applyImmediately,
          DBInstanceClass: changes.instanceClass,
          AllocatedStorage: changes.storage?.allocatedGiB,
          StorageType: changes.storage ? 'gp3' : undefined,
          Iops: changes.storage?.iops,
          StorageThroughput: changes.storage?.throughputMiBps,
          MultiAZ: changes.multiAz,
          DeletionProtection: changes.deletionProtection,
          BackupRetentionPeriod: changes.backupRetentionDays,
          EnablePerformanceInsights: pi?.enabled,
          PerformanceInsightsRetentionPeriod: pi?.enabled ? pi.retentionDays : undefined,
          PerformanceInsightsKMSKeyId: pi?.enabled ? options.kmsKeyId : undefined,
        }),
      );
    } catch (error) {
      if (error instanceof InvalidDBInstanceStateFault) {
        throw new ProvisioningError(
          ProvisioningErrorCode.AWS_UNAVAILABLE,
          `ModifyDBInstance: ${identifier} cannot be modified in its current state (${error.message})`,
          { cause: error },
        );
      }
      throw toProvisioningError(error, 'ModifyDBInstance');
    }
  }

  /** Sets the master user's password at once (a rotation); the password is passed through, never kept. */
  async setMasterPassword(identifier: string, password: string): Promise<void> {
    try {
      await this.aws.rds.send(
        new ModifyDBInstanceCommand({
          DBInstanceIdentifier: identifier,
          MasterUserPassword: password,
          ApplyImmediately: true,
        }),
      );
    } catch (error) {
      if (error instanceof InvalidDBInstanceStateFault) {
        throw new ProvisioningError(
          ProvisioningErrorCode.AWS_UNAVAILABLE,
          `ModifyDBInstance: ${identifier} cannot take a new master password in its current state`,
          { cause: error },
        );
      }
      throw toProvisioningError(error, 'ModifyDBInstance');
    }
  }

  /**
   * Renames the instance at once (ModifyDBInstance `NewDBInstanceIdentifier`): RDS moves its
   * endpoint, automated backups and tags to the new name, and the instance is `renaming` for a
   * while. A name already taken is RESOURCE_NAME_TAKEN (RDS never renames onto an instance); an
   * instance in a state that cannot be renamed is AWS_UNAVAILABLE (retryable).
   */
  async rename(identifier: string, newIdentifier: string): Promise<void> {
    try {
      await this.aws.rds.send(
        new ModifyDBInstanceCommand({
          DBInstanceIdentifier: identifier,
          NewDBInstanceIdentifier: newIdentifier,
          ApplyImmediately: true,
        }),
      );
    } catch (error) {
      if (error instanceof DBInstanceAlreadyExistsFault)
        throw new ProvisioningError(
          ProvisioningErrorCode.RESOURCE_NAME_TAKEN,
          `ModifyDBInstance: cannot rename ${identifier} to ${newIdentifier}: an instance of that name exists`,
          { cause: error },
        );
      if (error instanceof InvalidDBInstanceStateFault)
        throw new ProvisioningError(
          ProvisioningErrorCode.AWS_UNAVAILABLE,
          `ModifyDBInstance: ${identifier} cannot be renamed in its current state`,
          { cause: error },
        );
      throw toProvisioningError(error, 'ModifyDBInstance');
    }
  }

  /** See {@link RdsSnapshots.createSnapshot}. */
  createSnapshot(
    instanceIdentifier: string,
    snapshotIdentifier: string,
    options: SnapshotOptions,
  ): Promise<'created' | 'already-exists'> {
    return this.snapshotsOf.createSnapshot(instanceIdentifier, snapshotIdentifier, options);
  }

  /** The instance's manual and automated snapshots, oldest first (see {@link RdsSnapshots.snapshots}). */
  snapshots(instanceIdentifier: string): Promise<SnapshotView[]> {
    return this.snapshotsOf.snapshots(instanceIdentifier);
  }

  /** The snapshot, or null when there is none by that name. */
  snapshot(identifier: string): Promise<SnapshotView | null> {
    return this.snapshotsOf.snapshot(identifier);
  }

  /** See {@link RdsSnapshots.deleteSnapshot}. */
  deleteSnapshot(identifier: string): Promise<'deleted' | 'gone'> {
    return this.snapshotsOf.deleteSnapshot(identifier);
  }

  /** See {@link RdsRestores.restorableWindow}. */
  restorableWindow(instanceIdentifier: string): Promise<RestorableWindow | null> {
    return this.restores.restorableWindow(instanceIdentifier);
  }

  /** See {@link RdsRestores.restoreToPointInTime}. */
  restoreToPointInTime(spec: PointInTimeRestoreSpec): Promise<RestoreOutcome> {
    return this.restores.restoreToPointInTime(spec);
  }

  /** See {@link RdsRestores.restoreFromSnapshot}. */
  restoreFromSnapshot(spec: SnapshotRestoreSpec): Promise<RestoreOutcome> {
    return this.restores.restoreFromSnapshot(spec);
  }

  /**
   * Deletes the instance: lifts deletion protection first, takes a final snapshot when an
   * identifier is given, deletes automated backups. 'busy' means RDS cannot delete it in its
   * current state (still creating, modifying): call again later, never abandon it. An instance
   * not tagged for `ownerTenantId` is never touched ('not-ours').
   */
  async delete(
    identifier: string,
    options: {
      ownerTenantId: string;
      finalSnapshotIdentifier?: string;
      /**
       * False: RDS keeps the instance's automated backups as retained ones until their retention
       * period ends (billed as backup storage), so its earlier times stay restorable. Default true.
       */
      deleteAutomatedBackups?: boolean;
    },
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
          DeleteAutomatedBackups: options.deleteAutomatedBackups ?? true,
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
    arn: i.DBInstanceArn ?? '',
    status: i.DBInstanceStatus ?? 'unknown',
    endpoint: i.Endpoint?.Address ? { host: i.Endpoint.Address, port: i.Endpoint.Port ?? 5432 } : null,
    instanceClass: i.DBInstanceClass ?? '',
    engine: i.Engine ?? '',
    engineVersion: i.EngineVersion ?? '',
    multiAz: Boolean(i.MultiAZ),
    storageEncrypted: Boolean(i.StorageEncrypted),
    deletionProtection: Boolean(i.DeletionProtection),
    allocatedGiB: i.AllocatedStorage ?? 0,
    iops: i.Iops ?? null,
    throughputMiBps: i.StorageThroughput ?? null,
    backupRetentionDays: i.BackupRetentionPeriod ?? 0,
    performanceInsights:
      i.PerformanceInsightsEnabled === undefined
        ? null
        : i.PerformanceInsightsEnabled
          ? { enabled: true, retentionDays: i.PerformanceInsightsRetentionPeriod ?? 7 }
          : { enabled: false },
    pending: toPending(i.PendingModifiedValues),
    tags: fromAwsTags(i.TagList),
  };
}

function toPending(p: DBInstance['PendingModifiedValues']): PendingModification {
  if (!p) return {};
  const pending: PendingModification = {};
  if (p.DBInstanceClass !== undefined) pending.instanceClass = p.DBInstanceClass;
  if (p.AllocatedStorage !== undefined) pending.allocatedGiB = p.AllocatedStorage;
  if (p.Iops !== undefined) pending.iops = p.Iops;
  if (p.StorageThroughput !== undefined) pending.throughputMiBps = p.StorageThroughput;
  if (p.MultiAZ !== undefined) pending.multiAz = p.MultiAZ;
  if (p.BackupRetentionPeriod !== undefined) pending.backupRetentionDays = p.BackupRetentionPeriod;
  return pending;
}
