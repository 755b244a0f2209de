import {
  CreateDBParameterGroupCommand,
  DBInstanceAlreadyExistsFault,
  DBInstanceNotFoundFault,
  DBSnapshotNotFoundFault,
  DescribeDBInstanceAutomatedBackupsCommand,
  DescribeDBInstancesCommand,
  InstanceQuotaExceededFault,
  InvalidDBInstanceStateFault,
  InvalidDBSnapshotStateFault,
  InvalidRestoreFault,
  ModifyDBParameterGroupCommand,
  PointInTimeRestoreNotEnabledFault,
  RDSClient,
  RestoreDBInstanceFromDBSnapshotCommand,
  RestoreDBInstanceToPointInTimeCommand,
  StorageQuotaExceededFault,
} from '@aws-sdk/client-rds';
import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsClients } from './aws-clients';
import { RdsInstances } from './rds-instances.adapter';
import type { RestoreTarget } from './rds-restores.adapter';
import { awsError } from './testing/fake-aws';
import { offlineConfig } from './testing/offline-config';

async function failure(promise: Promise<unknown>): Promise<ProvisioningError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ProvisioningError))
    throw new Error(`expected a ProvisioningError, got ${String(error)}`);
  return error;
}

const fault = <T>(Fault: new (o: { message: string; $metadata: object }) => T, message: string): T =>
  new Fault({ message, $metadata: {} });

const rds = mockClient(RDSClient);
const clients = new AwsClients(offlineConfig());
const instances = new RdsInstances(clients);
afterAll(() => clients.onApplicationShutdown());
beforeEach(() => {
  rds.reset();
  rds.on(CreateDBParameterGroupCommand).resolves({});
  rds.on(ModifyDBParameterGroupCommand).resolves({});
});
afterEach(() => jest.restoreAllMocks());

const tenantTags = {
  'silo:tenant-id': 'tenant-acme',
  'silo:tenant-slug': 'acme',
  'silo:tier': 'enterprise',
  'silo:environment': 'test',
  'managed-by': 'silo',
};

/** What an enterprise instance gets at creation, as a restore target. */
const enterprise: RestoreTarget = {
  identifier: 'silo-acme-r1',
  engineVersion: '16.4',
  instanceClass: 'db.m6i.large',
  storage: { type: 'gp3', allocatedGiB: 500, iops: 16_000, throughputMiBps: 1000 },
  multiAz: true,
  deletionProtection: true,
  backupRetentionDays: 35,
  subnetGroupName: 'silo-tenants',
  securityGroupIds: ['sg-1', 'sg-2'],
  parameterGroupName: 'silo-postgres16',
  tags: tenantTags,
};

/** The tier's settings as both restores send them. */
const enterpriseRequest = (restoredFrom: string) => ({
  DBInstanceClass: 'db.m6i.large',
  AllocatedStorage: 500,
  StorageType: 'gp3',
  Iops: 16_000,
  StorageThroughput: 1000,
  MultiAZ: true,
  DeletionProtection: true,
  BackupRetentionPeriod: 35,
  PubliclyAccessible: false,
  DBSubnetGroupName: 'silo-tenants',
  DBParameterGroupName: 'silo-postgres16',
  VpcSecurityGroupIds: ['sg-1', 'sg-2'],
  CopyTagsToSnapshot: true,
  AutoMinorVersionUpgrade: true,
  Tags: [
    { Key: 'silo:tenant-id', Value: 'tenant-acme' },
    { Key: 'silo:tenant-slug', Value: 'acme' },
    { Key: 'silo:tier', Value: 'enterprise' },
    { Key: 'silo:environment', Value: 'test' },
    { Key: 'managed-by', Value: 'silo' },
    { Key: 'silo:restored-from', Value: restoredFrom },
  ],
});

describe('RdsInstances.restorableWindow', () => {
  const instance = {
    DBInstanceIdentifier: 'silo-acme',
    DbiResourceId: 'db-NEW',
    BackupRetentionPeriod: 7,
    InstanceCreateTime: new Date('2026-11-01T00:00:00Z'),
    LatestRestorableTime: new Date('2026-12-07T11:55:00Z'),
  };

  it("takes the earliest time from this instance's automated backups, not a retained one of an earlier instance", async () => {
    rds
      .on(DescribeDBInstancesCommand)
      .resolves({ DBInstances: [instance] })
      .on(DescribeDBInstanceAutomatedBackupsCommand)
      .resolves({
        DBInstanceAutomatedBackups: [
          {
            DBInstanceIdentifier: 'silo-acme',
            DbiResourceId: 'db-OLD',
            Status: 'retained',
            RestoreWindow: { EarliestTime: new Date('2026-10-01T00:00:00Z') },
          },
          {
            DBInstanceIdentifier: 'silo-acme',
            DbiResourceId: 'db-NEW',
            Status: 'active',
            RestoreWindow: {
              EarliestTime: new Date('2026-11-30T12:00:00Z'),
              LatestTime: new Date('2026-12-07T11:55:00Z'),
            },
          },
        ],
      });
    await expect(instances.restorableWindow('silo-acme')).resolves.toEqual({
      earliest: new Date('2026-11-30T12:00:00Z'),
      latest: new Date('2026-12-07T11:55:00Z'),
      earliestFrom: 'automated-backups',
    });
    expect(rds.commandCalls(DescribeDBInstanceAutomatedBackupsCommand)[0].args[0].input).toEqual({
      DBInstanceIdentifier: 'silo-acme',
      MaxRecords: 100,
      Marker: undefined,
    });
  });

  it('estimates the earliest time from the retention period when RDS gives none, never before the instance was made', async () => {
    jest.spyOn(Date, 'now').mockReturnValue(new Date('2026-12-07T12:00:00Z').getTime());
    rds
      .on(DescribeDBInstancesCommand)
      .resolvesOnce({ DBInstances: [instance] })
      .resolvesOnce({
        DBInstances: [{ ...instance, InstanceCreateTime: new Date('2026-12-05T08:00:00Z') }],
      })
      .on(DescribeDBInstanceAutomatedBackupsCommand)
      // What moto answers: no RestoreWindow, no DbiResourceId.
      .resolves({ DBInstanceAutomatedBackups: [{ DBInstanceIdentifier: 'silo-acme', Status: 'active' }] });
    await expect(instances.restorableWindow('silo-acme')).resolves.toEqual({
      earliest: new Date('2026-11-30T12:00:00Z'),
      latest: new Date('2026-12-07T11:55:00Z'),
      earliestFrom: 'retention-period',
    });
    await expect(instances.restorableWindow('silo-acme')).resolves.toEqual({
      earliest: new Date('2026-12-05T08:00:00Z'),
      latest: new Date('2026-12-07T11:55:00Z'),
      earliestFrom: 'retention-period',
    });
  });

  it('is null without the instance, with backups off and before the first backup', async () => {
    rds
      .on(DescribeDBInstancesCommand)
      .rejectsOnce(fault(DBInstanceNotFoundFault, 'not found'))
      .resolvesOnce({ DBInstances: [{ ...instance, BackupRetentionPeriod: 0 }] })
      .resolvesOnce({ DBInstances: [{ ...instance, LatestRestorableTime: undefined }] });
    await expect(instances.restorableWindow('silo-acme')).resolves.toBeNull();
    await expect(instances.restorableWindow('silo-acme')).resolves.toBeNull();
    await expect(instances.restorableWindow('silo-acme')).resolves.toBeNull();
    expect(rds).toHaveReceivedCommandTimes(DescribeDBInstanceAutomatedBackupsCommand, 0);
  });
});

describe('RdsInstances.restoreFromSnapshot', () => {
  const spec = { snapshotIdentifier: 'silo-acme-s1', target: enterprise, ownerTenantId: 'tenant-acme' };

  it("restores into a new instance with every setting of the tier, in Silo's parameter group made first", async () => {
    rds.on(RestoreDBInstanceFromDBSnapshotCommand).resolves({});
    await expect(instances.restoreFromSnapshot(spec)).resolves.toBe('created');
    expect(rds).toHaveReceivedCommandWith(CreateDBParameterGroupCommand, {
      DBParameterGroupName: 'silo-postgres16',
      DBParameterGroupFamily: 'postgres16',
    });
    expect(rds.commandCalls(RestoreDBInstanceFromDBSnapshotCommand)[0].args[0].input).toEqual({
      DBInstanceIdentifier: 'silo-acme-r1',
      DBSnapshotIdentifier: 'silo-acme-s1',
      ...enterpriseRequest('snapshot:silo-acme-s1'),
    });
    const order = rds.calls().map((c) => c.args[0].constructor.name);
    expect(order.indexOf('CreateDBParameterGroupCommand')).toBeLessThan(
      order.indexOf('RestoreDBInstanceFromDBSnapshotCommand'),
    );
  });

  it("a target that is this tenant's restore of the same snapshot is already there; any other is not ours", async () => {
    rds
      .on(RestoreDBInstanceFromDBSnapshotCommand)
      .rejects(fault(DBInstanceAlreadyExistsFault, 'DB instance already exists'))
      .on(DescribeDBInstancesCommand)
      .resolves({
        DBInstances: [
          {
            DBInstanceIdentifier: 'silo-acme-r1',
            TagList: [
              { Key: 'silo:tenant-id', Value: 'tenant-acme' },
              { Key: 'silo:restored-from', Value: 'snapshot:silo-acme-s1' },
            ],
          },
        ],
      });
    await expect(instances.restoreFromSnapshot(spec)).resolves.toBe('already-exists');
    const other = await failure(
      instances.restoreFromSnapshot({ ...spec, snapshotIdentifier: 'silo-acme-s2' }),
    );
    expect(other.code).toBe(ProvisioningErrorCode.RESOURCE_NAME_TAKEN);
    expect(other.message).toBe(
      "RDS instance silo-acme-r1 already exists and is not this tenant's restore of snapshot:silo-acme-s2 " +
        '(silo:restored-from: snapshot:silo-acme-s1); it was left untouched',
    );
    const otherTenant = await failure(instances.restoreFromSnapshot({ ...spec, ownerTenantId: 'tenant-x' }));
    expect(otherTenant.code).toBe(ProvisioningErrorCode.RESOURCE_NAME_TAKEN);
  });

  it('a missing snapshot and the quotas are permanent and named; a snapshot being made and throttling are retryable', async () => {
    rds
      .on(RestoreDBInstanceFromDBSnapshotCommand)
      .rejectsOnce(fault(DBSnapshotNotFoundFault, 'DBSnapshot silo-acme-s1 not found.'))
      .rejectsOnce(fault(InstanceQuotaExceededFault, 'Instance quota exceeded'))
      .rejectsOnce(fault(StorageQuotaExceededFault, 'Storage quota exceeded'))
      .rejectsOnce(fault(InvalidDBSnapshotStateFault, 'Snapshot is creating'))
      .rejectsOnce(awsError('Throttling', 400, 'Rate exceeded'));

    const missing = await failure(instances.restoreFromSnapshot(spec));
    expect([missing.code, missing.message]).toEqual([
      ProvisioningErrorCode.AWS_REJECTED,
      'RestoreDBInstanceFromDBSnapshot: DB snapshot silo-acme-s1 not found',
    ]);
    const instanceQuota = await failure(instances.restoreFromSnapshot(spec));
    expect([instanceQuota.code, instanceQuota.retryable]).toEqual([
      ProvisioningErrorCode.AWS_REJECTED,
      false,
    ]);
    expect(instanceQuota.message).toContain("the account's quota of DB instances in this region is reached");
    const storageQuota = await failure(instances.restoreFromSnapshot(spec));
    expect(storageQuota.message).toContain("the account's quota of DB instance storage");
    const creating = await failure(instances.restoreFromSnapshot(spec));
    expect([creating.code, creating.retryable]).toEqual([ProvisioningErrorCode.AWS_UNAVAILABLE, true]);
    expect(creating.message).toContain('cannot be restored yet (Snapshot is creating)');
    const throttled = await failure(instances.restoreFromSnapshot(spec));
    expect([throttled.code, throttled.retryable]).toEqual([ProvisioningErrorCode.AWS_UNAVAILABLE, true]);
  });
});

describe('RdsInstances.restoreToPointInTime', () => {
  const at = new Date('2026-12-07T10:30:00Z');
  const spec = {
    sourceInstanceIdentifier: 'silo-acme',
    restoreTime: at,
    target: enterprise,
    ownerTenantId: 'tenant-acme',
  };

  it('restores the source at the given time into a new instance with every setting of the tier', async () => {
    rds.on(RestoreDBInstanceToPointInTimeCommand).resolves({});
    await expect(instances.restoreToPointInTime(spec)).resolves.toBe('created');
    expect(rds.commandCalls(RestoreDBInstanceToPointInTimeCommand)[0].args[0].input).toEqual({
      SourceDBInstanceIdentifier: 'silo-acme',
      TargetDBInstanceIdentifier: 'silo-acme-r1',
      RestoreTime: at,
      UseLatestRestorableTime: undefined,
      ...enterpriseRequest('instance:silo-acme@2026-12-07T10:30:00.000Z'),
    });
  });

  it('restores to the latest restorable time without naming one; a smaller tier sends no IOPS, one SG-less none', async () => {
    rds.on(RestoreDBInstanceToPointInTimeCommand).resolves({});
    await instances.restoreToPointInTime({
      ...spec,
      restoreTime: 'latest',
      target: {
        ...enterprise,
        instanceClass: 'db.t3.micro',
        storage: { type: 'gp3', allocatedGiB: 20 },
        multiAz: false,
        deletionProtection: false,
        backupRetentionDays: 1,
        subnetGroupName: undefined,
        securityGroupIds: [],
      },
    });
    expect(rds.commandCalls(RestoreDBInstanceToPointInTimeCommand)[0].args[0].input).toMatchObject({
      RestoreTime: undefined,
      UseLatestRestorableTime: true,
      DBInstanceClass: 'db.t3.micro',
      AllocatedStorage: 20,
      Iops: undefined,
      StorageThroughput: undefined,
      MultiAZ: false,
      DeletionProtection: false,
      BackupRetentionPeriod: 1,
      DBSubnetGroupName: undefined,
      VpcSecurityGroupIds: undefined,
      Tags: expect.arrayContaining([{ Key: 'silo:restored-from', Value: 'instance:silo-acme@latest' }]),
    });
  });

  it('a re-run finds its target by the restore time it was asked for', async () => {
    rds
      .on(RestoreDBInstanceToPointInTimeCommand)
      .rejects(fault(DBInstanceAlreadyExistsFault, 'DB instance already exists'))
      .on(DescribeDBInstancesCommand)
      .resolves({
        DBInstances: [
          {
            DBInstanceIdentifier: 'silo-acme-r1',
            TagList: [
              { Key: 'silo:tenant-id', Value: 'tenant-acme' },
              { Key: 'silo:restored-from', Value: 'instance:silo-acme@2026-12-07T10:30:00.000Z' },
            ],
          },
        ],
      });
    await expect(instances.restoreToPointInTime(spec)).resolves.toBe('already-exists');
    const later = await failure(
      instances.restoreToPointInTime({ ...spec, restoreTime: new Date('2026-12-07T10:31:00Z') }),
    );
    expect(later.code).toBe(ProvisioningErrorCode.RESOURCE_NAME_TAKEN);
  });

  it('a time outside the window, backups off, a missing source and the quota are permanent and named', async () => {
    rds
      .on(RestoreDBInstanceToPointInTimeCommand)
      .rejectsOnce(fault(InvalidRestoreFault, 'Restore time is not within the restorable window'))
      .rejectsOnce(
        awsError('InvalidParameterValue', 400, 'The restore time must be before the latest restorable time'),
      )
      .rejectsOnce(fault(PointInTimeRestoreNotEnabledFault, 'backups disabled'))
      .rejectsOnce(fault(DBInstanceNotFoundFault, 'DBInstance silo-acme not found.'))
      .rejectsOnce(fault(InstanceQuotaExceededFault, 'Instance quota exceeded'));

    const outside = await failure(instances.restoreToPointInTime(spec));
    expect([outside.code, outside.retryable]).toEqual([ProvisioningErrorCode.AWS_REJECTED, false]);
    expect(outside.message).toBe(
      'RestoreDBInstanceToPointInTime: silo-acme at 2026-12-07T10:30:00.000Z is not restorable ' +
        '(Restore time is not within the restorable window)',
    );
    const invalid = await failure(instances.restoreToPointInTime(spec));
    expect([invalid.code, invalid.message]).toEqual([
      ProvisioningErrorCode.AWS_REJECTED,
      'RestoreDBInstanceToPointInTime: RDS refused the restore of silo-acme at 2026-12-07T10:30:00.000Z: ' +
        'The restore time must be before the latest restorable time',
    ]);
    const off = await failure(instances.restoreToPointInTime(spec));
    expect([off.code, off.message]).toEqual([
      ProvisioningErrorCode.AWS_REJECTED,
      'RestoreDBInstanceToPointInTime: silo-acme has no automated backups (backup retention 0) to restore from',
    ]);
    const missing = await failure(instances.restoreToPointInTime(spec));
    expect([missing.code, missing.message]).toEqual([
      ProvisioningErrorCode.AWS_REJECTED,
      'RestoreDBInstanceToPointInTime: source DB instance silo-acme not found',
    ]);
    const quota = await failure(instances.restoreToPointInTime(spec));
    expect([quota.code, quota.retryable]).toEqual([ProvisioningErrorCode.AWS_REJECTED, false]);
    expect(quota.message).toContain(
      'quota of DB instances in this region is reached (InstanceQuotaExceededFault',
    );
  });

  it('throttling, a 5xx and a source in a state it cannot be restored from are retryable', async () => {
    rds
      .on(RestoreDBInstanceToPointInTimeCommand)
      .rejectsOnce(awsError('Throttling', 400, 'Rate exceeded'))
      .rejectsOnce(awsError('InternalFailure', 500))
      .rejectsOnce(fault(InvalidDBInstanceStateFault, 'Instance is creating'));
    for (let i = 0; i < 3; i++) {
      const error = await failure(instances.restoreToPointInTime(spec));
      expect([error.code, error.retryable]).toEqual([ProvisioningErrorCode.AWS_UNAVAILABLE, true]);
    }
  });
});
