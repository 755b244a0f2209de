import {
  DeleteDBParameterGroupCommand,
  DescribeDBInstanceAutomatedBackupsCommand,
  DescribeDBInstancesCommand,
} from '@aws-sdk/client-rds';
import { ProvisioningErrorCode } from '@silo/core';
import { randomBytes } from 'node:crypto';
import { testConfig, uniqueToken } from '../../../test/support/test-config';
import {
  AwsClients,
  parameterGroupName,
  RdsInstances,
  RESTORED_FROM_TAG,
  type InstanceSpec,
  type RestoreTarget,
} from '../src';

// Snapshots and restores through the emulator over HTTP: a tenant's instance, a manual snapshot
// of it beside moto's automated one, a restore from the snapshot and one to a point in time, each
// into a new instance with the tier's settings. The last test pins what moto leaves out, for the
// emulator notes.
describe('RDS snapshots and restores against the emulator', () => {
  const prefix = `sn${uniqueToken(3)}`;
  const config = testConfig({ SILO_RESOURCE_PREFIX: prefix });
  const aws = new AwsClients(config);
  const rds = new RdsInstances(aws);
  const group = parameterGroupName(prefix, '16.4');
  const tenantId = `tenant-${prefix}`;
  const tags = {
    'silo:tenant-id': tenantId,
    'silo:tenant-slug': 'acme',
    'silo:tier': 'pro',
    'silo:environment': 'test',
    'managed-by': 'silo',
  };
  const source: InstanceSpec = {
    identifier: `${prefix}-acme`,
    engineVersion: '16.4',
    instanceClass: 'db.t3.micro',
    databaseName: 'app',
    masterUsername: 'silo_admin',
    masterPassword: randomBytes(18).toString('base64url'),
    storage: { type: 'gp3', allocatedGiB: 20 },
    multiAz: false,
    deletionProtection: false,
    backupRetentionDays: 7,
    performanceInsights: { enabled: false },
    securityGroupIds: [],
    parameterGroupName: group,
    tags,
  };
  /** The pro tier's settings for a restored copy. */
  const target = (identifier: string): RestoreTarget => ({
    ...source,
    identifier,
    instanceClass: 'db.t3.small',
    storage: { type: 'gp3', allocatedGiB: 50, iops: 3000, throughputMiBps: 125 },
    deletionProtection: true,
    backupRetentionDays: 14,
    securityGroupIds: ['sg-0123456789abcdef0'],
  });
  const snapshotId = `${prefix}-acme-before-restore`;
  const made: string[] = [];
  const describeRaw = async (identifier: string) =>
    (await aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier })))
      .DBInstances![0];

  beforeAll(async () => {
    await rds.create(source, tenantId);
    made.push(source.identifier);
  });

  afterAll(async () => {
    for (const identifier of made.reverse()) {
      await rds.delete(identifier, { ownerTenantId: tenantId });
    }
    await rds.deleteSnapshot(snapshotId);
    await aws.rds
      .send(new DeleteDBParameterGroupCommand({ DBParameterGroupName: group }))
      .catch(() => undefined);
    aws.onApplicationShutdown();
  });

  it("takes a tagged manual snapshot once, and lists it beside moto's automated one", async () => {
    const options = { tags: { 'managed-by': 'silo', purpose: 'restore' }, ownerTenantId: tenantId };
    await expect(rds.createSnapshot(source.identifier, snapshotId, options)).resolves.toBe('created');
    await expect(rds.createSnapshot(source.identifier, snapshotId, options)).resolves.toBe('already-exists');
    await expect(
      rds.createSnapshot(source.identifier, snapshotId, { ...options, ownerTenantId: 'tenant-other' }),
    ).rejects.toMatchObject({ code: ProvisioningErrorCode.RESOURCE_NAME_TAKEN });

    const found = await rds.snapshots(source.identifier);
    expect(found.map((s) => [s.type, s.identifier, s.status])).toEqual([
      // moto takes one automated snapshot when it creates the instance, never again.
      [
        'automated',
        expect.stringMatching(new RegExp(`^rds:${source.identifier}-\\d{4}-\\d\\d-\\d\\d-\\d\\d-\\d\\d$`)),
        'available',
      ],
      ['manual', snapshotId, 'available'],
    ]);
    const manual = found[1];
    expect(manual).toMatchObject({
      arn: `arn:aws:rds:us-east-1:123456789012:snapshot:${snapshotId}`,
      instanceIdentifier: source.identifier,
      engineVersion: '16.4',
      encrypted: true,
      // moto's stand-in for the account's default key when none is named.
      kmsKeyId: 'default_kms_key_id',
      allocatedStorage: 20,
      tags: { 'managed-by': 'silo', purpose: 'restore', 'silo:tenant-id': tenantId },
    });
    expect(manual.createdAt).toBeInstanceOf(Date);
    // The automated one carries the instance's tags (CopyTagsToSnapshot).
    expect(found[0].tags).toEqual(tags);
    await expect(rds.snapshot(snapshotId)).resolves.toEqual(manual);
    await expect(rds.snapshot(`${prefix}-missing`)).resolves.toBeNull();
    await expect(rds.snapshots(`${prefix}-nobody`)).resolves.toEqual([]);
  });

  it("restores the snapshot into a new instance with the tier's settings, once", async () => {
    const identifier = `${prefix}-acme-from-snapshot`;
    const spec = { snapshotIdentifier: snapshotId, target: target(identifier), ownerTenantId: tenantId };
    await expect(rds.restoreFromSnapshot(spec)).resolves.toBe('created');
    made.push(identifier);
    await expect(rds.restoreFromSnapshot(spec)).resolves.toBe('already-exists');

    const restored = await rds.describe(identifier);
    expect(restored).toMatchObject({
      status: 'available',
      instanceClass: 'db.t3.small',
      engineVersion: '16.4',
      allocatedGiB: 50,
      iops: 3000,
      throughputMiBps: 125,
      storageEncrypted: true,
      deletionProtection: true,
      backupRetentionDays: 14,
      tags: { ...tags, [RESTORED_FROM_TAG]: `snapshot:${snapshotId}` },
    });
    const raw = await describeRaw(identifier);
    expect(raw).toMatchObject({
      KmsKeyId: 'default_kms_key_id',
      CopyTagsToSnapshot: true,
      AutoMinorVersionUpgrade: true,
      VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-0123456789abcdef0', Status: 'active' }],
      DBParameterGroups: [{ DBParameterGroupName: group, ParameterApplyStatus: 'in-sync' }],
    });

    await expect(
      rds.restoreFromSnapshot({ ...spec, snapshotIdentifier: `${prefix}-missing` }),
    ).rejects.toMatchObject({
      code: ProvisioningErrorCode.AWS_REJECTED,
      message: `RestoreDBInstanceFromDBSnapshot: DB snapshot ${prefix}-missing not found`,
    });
  });

  it("gives the source's restorable window, the earliest end estimated: moto has no RestoreWindow", async () => {
    const window = await rds.restorableWindow(source.identifier);
    const raw = await describeRaw(source.identifier);
    expect(window).toEqual({
      // Just created: the instance's creation time bounds the estimate, not the retention period.
      earliest: raw.InstanceCreateTime,
      latest: expect.any(Date),
      earliestFrom: 'retention-period',
    });
    // moto reports "now" as the latest restorable time, at every describe.
    expect(window!.latest.getTime()).toBeGreaterThanOrEqual(raw.InstanceCreateTime!.getTime());
    expect(Date.now() - window!.latest.getTime()).toBeLessThan(60_000);

    const { DBInstanceAutomatedBackups } = await aws.rds.send(
      new DescribeDBInstanceAutomatedBackupsCommand({ DBInstanceIdentifier: source.identifier }),
    );
    expect(DBInstanceAutomatedBackups).toEqual([
      { DBInstanceIdentifier: source.identifier, Status: 'active' },
    ]);
    await expect(rds.restorableWindow(`${prefix}-nobody`)).resolves.toBeNull();
  });

  it("restores the source to a point in its window into a new instance with the tier's settings, once", async () => {
    const window = (await rds.restorableWindow(source.identifier))!;
    const identifier = `${prefix}-acme-at-time`;
    const spec = {
      sourceInstanceIdentifier: source.identifier,
      restoreTime: window.latest,
      target: target(identifier),
      ownerTenantId: tenantId,
    };
    await expect(rds.restoreToPointInTime(spec)).resolves.toBe('created');
    made.push(identifier);
    await expect(rds.restoreToPointInTime(spec)).resolves.toBe('already-exists');

    expect(await rds.describe(identifier)).toMatchObject({
      status: 'available',
      instanceClass: 'db.t3.small',
      allocatedGiB: 50,
      deletionProtection: true,
      backupRetentionDays: 14,
      storageEncrypted: true,
      tags: {
        ...tags,
        [RESTORED_FROM_TAG]: `instance:${source.identifier}@${window.latest.toISOString()}`,
      },
    });

    const latest = `${prefix}-acme-latest`;
    await expect(
      rds.restoreToPointInTime({ ...spec, restoreTime: 'latest', target: target(latest) }),
    ).resolves.toBe('created');
    made.push(latest);
    expect((await rds.describe(latest))?.tags[RESTORED_FROM_TAG]).toBe(
      `instance:${source.identifier}@latest`,
    );

    await expect(
      rds.restoreToPointInTime({
        ...spec,
        sourceInstanceIdentifier: `${prefix}-nobody`,
        target: target(`${prefix}-x`),
      }),
    ).rejects.toMatchObject({
      code: ProvisioningErrorCode.AWS_REJECTED,
      message: `RestoreDBInstanceToPointInTime: source DB instance ${prefix}-nobody not found`,
    });
  });

  it('deletes the manual snapshot once and refuses the automated one', async () => {
    const extra = `${prefix}-acme-extra`;
    await rds.createSnapshot(source.identifier, extra, { tags: {}, ownerTenantId: tenantId });
    await expect(rds.deleteSnapshot(extra)).resolves.toBe('deleted');
    await expect(rds.deleteSnapshot(extra)).resolves.toBe('gone');
    const [automated] = await rds.snapshots(source.identifier);
    await expect(rds.deleteSnapshot(automated.identifier)).rejects.toMatchObject({
      code: ProvisioningErrorCode.AWS_REJECTED,
    });
  });

  // If one of these fails after a moto upgrade, update /work/shared/emulator-notes.md.
  it('moto: restore times are not checked, false settings are not applied, the source is named a replica', async () => {
    const multiAzSource = `${prefix}-multi`;
    await rds.create({ ...source, identifier: multiAzSource, multiAz: true }, tenantId);
    made.push(multiAzSource);
    const identifier = `${prefix}-multi-2000`;
    await expect(
      rds.restoreToPointInTime({
        sourceInstanceIdentifier: multiAzSource,
        // Years before the instance existed: AWS answers InvalidRestoreFault, moto restores.
        restoreTime: new Date('2000-01-01T00:00:00Z'),
        target: target(identifier),
        ownerTenantId: tenantId,
      }),
    ).resolves.toBe('created');
    made.push(identifier);
    const raw = await describeRaw(identifier);
    // MultiAZ=false is sent, but moto applies only truthy overrides and keeps the source's.
    expect(raw.MultiAZ).toBe(true);
    expect(raw.ReadReplicaSourceDBInstanceIdentifier).toBe(multiAzSource);
    expect((await describeRaw(multiAzSource)).ReadReplicaDBInstanceIdentifiers).toEqual([]);
  });
});
