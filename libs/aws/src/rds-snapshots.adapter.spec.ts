import {
  CreateDBSnapshotCommand,
  DBInstanceNotFoundFault,
  DBSnapshotAlreadyExistsFault,
  DBSnapshotNotFoundFault,
  DeleteDBSnapshotCommand,
  DescribeDBSnapshotsCommand,
  InvalidDBInstanceStateFault,
  InvalidDBSnapshotStateFault,
  RDSClient,
  SnapshotQuotaExceededFault,
} from '@aws-sdk/client-rds';
import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsClients } from './aws-clients';
import { RdsInstances } from './rds-instances.adapter';
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
});

describe('RdsInstances.createSnapshot', () => {
  it('takes a manual snapshot tagged as given and with the tenant', async () => {
    rds.on(CreateDBSnapshotCommand).resolves({});
    await expect(
      instances.createSnapshot('silo-acme', 'silo-acme-before-upgrade', {
        tags: { 'managed-by': 'silo', 'silo:tenant-id': 'someone-else', purpose: 'before-upgrade' },
        ownerTenantId: 'tenant-acme',
      }),
    ).resolves.toBe('created');
    expect(rds).toHaveReceivedCommandTimes(CreateDBSnapshotCommand, 1);
    expect(rds.commandCalls(CreateDBSnapshotCommand)[0].args[0].input).toEqual({
      DBInstanceIdentifier: 'silo-acme',
      DBSnapshotIdentifier: 'silo-acme-before-upgrade',
      Tags: [
        { Key: 'managed-by', Value: 'silo' },
        { Key: 'silo:tenant-id', Value: 'tenant-acme' },
        { Key: 'purpose', Value: 'before-upgrade' },
      ],
    });
  });

  it("counts a snapshot of that name of the same instance and tenant as taken, and refuses anyone else's", async () => {
    rds
      .on(CreateDBSnapshotCommand)
      .rejects(fault(DBSnapshotAlreadyExistsFault, 'exists'))
      .on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: 'silo-acme-s1' })
      .resolves({
        DBSnapshots: [
          {
            DBSnapshotIdentifier: 'silo-acme-s1',
            DBInstanceIdentifier: 'silo-acme',
            SnapshotType: 'manual',
            TagList: [{ Key: 'silo:tenant-id', Value: 'tenant-acme' }],
          },
        ],
      });
    const options = { tags: {}, ownerTenantId: 'tenant-acme' };
    await expect(instances.createSnapshot('silo-acme', 'silo-acme-s1', options)).resolves.toBe(
      'already-exists',
    );

    const otherInstance = await failure(instances.createSnapshot('silo-other', 'silo-acme-s1', options));
    expect(otherInstance.code).toBe(ProvisioningErrorCode.RESOURCE_NAME_TAKEN);
    expect(otherInstance.message).toContain('is not a snapshot of silo-other for this tenant');

    const otherTenant = await failure(
      instances.createSnapshot('silo-acme', 'silo-acme-s1', { tags: {}, ownerTenantId: 'tenant-x' }),
    );
    expect(otherTenant.code).toBe(ProvisioningErrorCode.RESOURCE_NAME_TAKEN);
  });

  it('a busy instance and throttling are retryable; a missing instance and the quota are not, and say so', async () => {
    rds
      .on(CreateDBSnapshotCommand)
      .rejectsOnce(fault(InvalidDBInstanceStateFault, 'Instance is backing-up'))
      .rejectsOnce(awsError('Throttling', 400, 'Rate exceeded'))
      .rejectsOnce(fault(DBInstanceNotFoundFault, 'DBInstance silo-acme not found.'))
      .rejectsOnce(fault(SnapshotQuotaExceededFault, 'would exceed the maximum number of snapshots'));
    const take = () => instances.createSnapshot('silo-acme', 's', { tags: {}, ownerTenantId: 't' });

    const busy = await failure(take());
    expect([busy.code, busy.retryable]).toEqual([ProvisioningErrorCode.AWS_UNAVAILABLE, true]);
    expect(busy.message).toContain('cannot be snapshotted in its current state (Instance is backing-up)');
    const throttled = await failure(take());
    expect([throttled.code, throttled.retryable]).toEqual([ProvisioningErrorCode.AWS_UNAVAILABLE, true]);
    const missing = await failure(take());
    expect([missing.code, missing.message]).toEqual([
      ProvisioningErrorCode.AWS_REJECTED,
      'CreateDBSnapshot: DB instance silo-acme not found',
    ]);
    const quota = await failure(take());
    expect([quota.code, quota.retryable]).toEqual([ProvisioningErrorCode.AWS_REJECTED, false]);
    expect(quota.message).toContain("the account's quota of manual DB snapshots in this region is reached");
  });
});

describe('RdsInstances.snapshots, snapshot and deleteSnapshot', () => {
  it("lists the instance's manual and automated snapshots across pages, oldest first", async () => {
    rds
      .on(DescribeDBSnapshotsCommand, { Marker: undefined })
      .resolves({
        DBSnapshots: [
          {
            DBSnapshotIdentifier: 'silo-acme-s1',
            DBSnapshotArn: 'arn:aws:rds:us-east-1:1:snapshot:silo-acme-s1',
            DBInstanceIdentifier: 'silo-acme',
            SnapshotType: 'manual',
            Status: 'available',
            SnapshotCreateTime: new Date('2026-12-02T00:00:00Z'),
            EngineVersion: '16.4',
            Encrypted: true,
            KmsKeyId: 'arn:aws:kms:us-east-1:1:key/k',
            AllocatedStorage: 100,
            TagList: [{ Key: 'silo:tenant-id', Value: 'tenant-acme' }],
          },
          // Not Silo's to list: a snapshot shared with the account.
          { DBSnapshotIdentifier: 'shared', DBInstanceIdentifier: 'silo-acme', SnapshotType: 'shared' },
        ],
        Marker: 'p2',
      })
      .on(DescribeDBSnapshotsCommand, { Marker: 'p2' })
      .resolves({
        DBSnapshots: [
          {
            DBSnapshotIdentifier: 'rds:silo-acme-2026-12-01-03-10',
            DBSnapshotArn: 'arn:aws:rds:us-east-1:1:snapshot:rds:silo-acme-2026-12-01-03-10',
            DBInstanceIdentifier: 'silo-acme',
            SnapshotType: 'automated',
            Status: 'available',
            SnapshotCreateTime: new Date('2026-12-01T03:10:00Z'),
            EngineVersion: '16.4',
            Encrypted: true,
            KmsKeyId: 'arn:aws:kms:us-east-1:1:key/k',
            AllocatedStorage: 100,
          },
          {
            DBSnapshotIdentifier: 'silo-acme-s2',
            DBInstanceIdentifier: 'silo-acme',
            SnapshotType: 'manual',
            Status: 'creating',
          },
        ],
      });
    const found = await instances.snapshots('silo-acme');
    expect(rds.commandCalls(DescribeDBSnapshotsCommand).map((c) => c.args[0].input)).toEqual([
      { DBInstanceIdentifier: 'silo-acme', MaxRecords: 100, Marker: undefined },
      { DBInstanceIdentifier: 'silo-acme', MaxRecords: 100, Marker: 'p2' },
    ]);
    expect(found).toEqual([
      {
        identifier: 'rds:silo-acme-2026-12-01-03-10',
        arn: 'arn:aws:rds:us-east-1:1:snapshot:rds:silo-acme-2026-12-01-03-10',
        type: 'automated',
        status: 'available',
        createdAt: new Date('2026-12-01T03:10:00Z'),
        instanceIdentifier: 'silo-acme',
        engineVersion: '16.4',
        encrypted: true,
        kmsKeyId: 'arn:aws:kms:us-east-1:1:key/k',
        allocatedStorage: 100,
        tags: {},
      },
      {
        identifier: 'silo-acme-s1',
        arn: 'arn:aws:rds:us-east-1:1:snapshot:silo-acme-s1',
        type: 'manual',
        status: 'available',
        createdAt: new Date('2026-12-02T00:00:00Z'),
        instanceIdentifier: 'silo-acme',
        engineVersion: '16.4',
        encrypted: true,
        kmsKeyId: 'arn:aws:kms:us-east-1:1:key/k',
        allocatedStorage: 100,
        tags: { 'silo:tenant-id': 'tenant-acme' },
      },
      {
        identifier: 'silo-acme-s2',
        arn: '',
        type: 'manual',
        status: 'creating',
        createdAt: null,
        instanceIdentifier: 'silo-acme',
        engineVersion: '',
        encrypted: false,
        kmsKeyId: null,
        allocatedStorage: 0,
        tags: {},
      },
    ]);
  });

  it('reads one snapshot by name, null when there is none', async () => {
    rds
      .on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: 'silo-acme-s1' })
      .resolves({
        DBSnapshots: [{ DBSnapshotIdentifier: 'silo-acme-s1', SnapshotType: 'manual', Status: 'available' }],
      })
      .on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: 'missing' })
      .rejects(fault(DBSnapshotNotFoundFault, 'DBSnapshot missing not found.'));
    await expect(instances.snapshot('silo-acme-s1')).resolves.toMatchObject({
      identifier: 'silo-acme-s1',
      type: 'manual',
      status: 'available',
    });
    await expect(instances.snapshot('missing')).resolves.toBeNull();
  });

  it('deletes a manual snapshot; one already gone is fine; an automated one is refused without a call', async () => {
    rds
      .on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: 'manual' })
      .resolves({ DBSnapshots: [{ DBSnapshotIdentifier: 'manual', SnapshotType: 'manual' }] })
      .on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: 'rds:auto' })
      .resolves({ DBSnapshots: [{ DBSnapshotIdentifier: 'rds:auto', SnapshotType: 'automated' }] })
      .on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: 'gone' })
      .rejects(fault(DBSnapshotNotFoundFault, 'not found'))
      .on(DeleteDBSnapshotCommand)
      .resolvesOnce({})
      .rejectsOnce(fault(DBSnapshotNotFoundFault, 'not found'))
      .rejectsOnce(fault(InvalidDBSnapshotStateFault, 'Snapshot is creating'));

    await expect(instances.deleteSnapshot('manual')).resolves.toBe('deleted');
    expect(rds.commandCalls(DeleteDBSnapshotCommand)[0].args[0].input).toEqual({
      DBSnapshotIdentifier: 'manual',
    });
    await expect(instances.deleteSnapshot('gone')).resolves.toBe('gone');
    // Deleted by someone else between the describe and the delete.
    await expect(instances.deleteSnapshot('manual')).resolves.toBe('gone');
    const creating = await failure(instances.deleteSnapshot('manual'));
    expect([creating.code, creating.retryable]).toEqual([ProvisioningErrorCode.AWS_UNAVAILABLE, true]);

    const automated = await failure(instances.deleteSnapshot('rds:auto'));
    expect([automated.code, automated.retryable]).toEqual([ProvisioningErrorCode.AWS_REJECTED, false]);
    expect(automated.message).toContain('is an automated snapshot');
    expect(rds).toHaveReceivedCommandTimes(DeleteDBSnapshotCommand, 3);
  });
});
