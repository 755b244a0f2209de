import {
  DBInstanceAlreadyExistsFault,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  InvalidDBInstanceStateFault,
  ModifyDBInstanceCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { CloudWatchClient, DescribeAlarmsCommand, TagResourceCommand } from '@aws-sdk/client-cloudwatch';
import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsClients } from './aws-clients';
import { RdsInstances } from './rds-instances.adapter';
import { TenantAlarms } from './tenant-alarms.adapter';
import { awsError } from './testing/fake-aws';
import { offlineConfig } from './testing/offline-config';

const config = offlineConfig();

async function failure(promise: Promise<unknown>): Promise<ProvisioningError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ProvisioningError))
    throw new Error(`expected a ProvisioningError, got ${String(error)}`);
  return error;
}

const rds = mockClient(RDSClient);
const cloudWatch = mockClient(CloudWatchClient);
beforeEach(() => {
  rds.reset();
  cloudWatch.reset();
});

describe('RdsInstances.modify and describe', () => {
  const clients = new AwsClients(config);
  const instances = new RdsInstances(clients);
  afterAll(() => clients.onApplicationShutdown());

  it('starter → pro: class, gp3 storage without IOPS, backups and Performance Insights, at once', async () => {
    rds.on(ModifyDBInstanceCommand).resolves({});
    await instances.modify(
      'silo-acme',
      {
        instanceClass: 'db.t3.small',
        storage: { allocatedGiB: 100 },
        backupRetentionDays: 14,
        performanceInsights: { enabled: true, retentionDays: 7 },
      },
      { applyImmediately: true, kmsKeyId: 'alias/silo' },
    );
    expect(rds.commandCalls(ModifyDBInstanceCommand).map((c) => c.args[0].input)).toEqual([
      {
        DBInstanceIdentifier: 'silo-acme',
        ApplyImmediately: true,
        DBInstanceClass: 'db.t3.small',
        AllocatedStorage: 100,
        StorageType: 'gp3',
        Iops: undefined,
        StorageThroughput: undefined,
        MultiAZ: undefined,
        DeletionProtection: undefined,
        BackupRetentionPeriod: 14,
        EnablePerformanceInsights: true,
        PerformanceInsightsRetentionPeriod: 7,
        PerformanceInsightsKMSKeyId: 'alias/silo',
      },
    ]);
  });

  it('pro → enterprise in the maintenance window: provisioned IOPS and throughput with the size, Multi-AZ, protection', async () => {
    rds.on(ModifyDBInstanceCommand).resolves({});
    await instances.modify(
      'silo-acme',
      {
        instanceClass: 'db.m6i.large',
        storage: { allocatedGiB: 500, iops: 16_000, throughputMiBps: 1000 },
        multiAz: true,
        deletionProtection: true,
        backupRetentionDays: 35,
        performanceInsights: { enabled: true, retentionDays: 731 },
      },
      { applyImmediately: false },
    );
    expect(rds.commandCalls(ModifyDBInstanceCommand)[0].args[0].input).toEqual({
      DBInstanceIdentifier: 'silo-acme',
      ApplyImmediately: false,
      DBInstanceClass: 'db.m6i.large',
      AllocatedStorage: 500,
      StorageType: 'gp3',
      Iops: 16_000,
      StorageThroughput: 1000,
      MultiAZ: true,
      DeletionProtection: true,
      BackupRetentionPeriod: 35,
      EnablePerformanceInsights: true,
      PerformanceInsightsRetentionPeriod: 731,
      PerformanceInsightsKMSKeyId: undefined,
    });
  });

  it('a change that leaves storage alone sends no storage fields at all', async () => {
    rds.on(ModifyDBInstanceCommand).resolves({});
    await instances.modify(
      'silo-acme',
      { instanceClass: 'db.t3.small', multiAz: false },
      { applyImmediately: true },
    );
    const input = rds.commandCalls(ModifyDBInstanceCommand)[0].args[0].input;
    expect([input.AllocatedStorage, input.StorageType, input.Iops, input.StorageThroughput]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(input.EnablePerformanceInsights).toBeUndefined();
  });

  it('renames at once with nothing else in the request; a taken name is permanent, a busy instance retryable', async () => {
    rds
      .on(ModifyDBInstanceCommand)
      .resolvesOnce({})
      .rejectsOnce(new DBInstanceAlreadyExistsFault({ message: 'DB instance already exists', $metadata: {} }))
      .rejectsOnce(new InvalidDBInstanceStateFault({ message: 'Instance is renaming', $metadata: {} }));
    await instances.rename('silo-acme', 'silo-restore-acme-4');
    expect(rds.commandCalls(ModifyDBInstanceCommand)[0].args[0].input).toEqual({
      DBInstanceIdentifier: 'silo-acme',
      NewDBInstanceIdentifier: 'silo-restore-acme-4',
      ApplyImmediately: true,
    });
    const taken = await failure(instances.rename('silo-acme', 'silo-restore-acme-4'));
    expect([taken.code, taken.retryable]).toEqual([ProvisioningErrorCode.RESOURCE_NAME_TAKEN, false]);
    const busy = await failure(instances.rename('silo-acme', 'silo-restore-acme-4'));
    expect([busy.code, busy.retryable]).toEqual([ProvisioningErrorCode.AWS_UNAVAILABLE, true]);
  });

  it("deletes without a final snapshot, and with the instance's automated backups unless asked to keep them", async () => {
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [
        {
          DBInstanceIdentifier: 'silo-restore-acme-4',
          DBInstanceStatus: 'available',
          TagList: [{ Key: 'silo:tenant-id', Value: 't-1' }],
        },
      ],
    });
    rds.on(DeleteDBInstanceCommand).resolves({});
    await instances.delete('silo-restore-acme-4', { ownerTenantId: 't-1' });
    await instances.delete('silo-restore-acme-4', { ownerTenantId: 't-1', deleteAutomatedBackups: false });
    expect(rds.commandCalls(DeleteDBInstanceCommand).map((c) => c.args[0].input)).toEqual([
      expect.objectContaining({ SkipFinalSnapshot: true, DeleteAutomatedBackups: true }),
      expect.objectContaining({ SkipFinalSnapshot: true, DeleteAutomatedBackups: false }),
    ]);
  });

  it('throttling and a busy instance are retryable; a refused combination is not, with RDS’s reason', async () => {
    rds
      .on(ModifyDBInstanceCommand)
      .rejectsOnce(awsError('Throttling', 400, 'Rate exceeded'))
      .rejectsOnce(new InvalidDBInstanceStateFault({ message: 'Instance is modifying', $metadata: {} }))
      .rejectsOnce(
        awsError(
          'InvalidParameterCombination',
          400,
          'You must increase the allocated storage by at least 10%',
        ),
      );
    const throttled = await failure(
      instances.modify('silo-acme', { multiAz: true }, { applyImmediately: true }),
    );
    expect([throttled.code, throttled.retryable]).toEqual([ProvisioningErrorCode.AWS_UNAVAILABLE, true]);

    const busy = await failure(instances.modify('silo-acme', { multiAz: true }, { applyImmediately: true }));
    expect([busy.code, busy.retryable]).toEqual([ProvisioningErrorCode.AWS_UNAVAILABLE, true]);
    expect(busy.message).toContain('cannot be modified in its current state');

    const refused = await failure(
      instances.modify('silo-acme', { storage: { allocatedGiB: 21 } }, { applyImmediately: true }),
    );
    expect([refused.code, refused.retryable]).toEqual([ProvisioningErrorCode.AWS_REJECTED, false]);
    expect(refused.message).toContain('at least 10%');
  });

  it('describes sizing, Performance Insights only when RDS says, and the pending values', async () => {
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [
        {
          DBInstanceIdentifier: 'silo-acme',
          DBInstanceArn: 'arn:aws:rds:us-east-1:123456789012:db:silo-acme',
          DBInstanceStatus: 'available',
          DBInstanceClass: 'db.t3.small',
          AllocatedStorage: 100,
          BackupRetentionPeriod: 14,
          PendingModifiedValues: { DBInstanceClass: 'db.m6i.large', AllocatedStorage: 500, MultiAZ: true },
        },
      ],
    });
    const view = await instances.describe('silo-acme');
    expect(view).toMatchObject({
      arn: 'arn:aws:rds:us-east-1:123456789012:db:silo-acme',
      allocatedGiB: 100,
      iops: null,
      backupRetentionDays: 14,
      performanceInsights: null,
      pending: { instanceClass: 'db.m6i.large', allocatedGiB: 500, multiAz: true },
    });
  });
});

describe('TenantAlarms.tag', () => {
  const clients = new AwsClients(config);
  const alarms = new TenantAlarms(clients);
  afterAll(() => clients.onApplicationShutdown());

  it('tags each existing alarm by its ARN (PutMetricAlarm ignores tags on an update)', async () => {
    cloudWatch.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [
        { AlarmName: 'silo-acme-CPUUtilization', AlarmArn: 'arn:aws:cloudwatch:us-east-1:1:alarm:a' },
        { AlarmName: 'silo-acme-FreeableMemory', AlarmArn: 'arn:aws:cloudwatch:us-east-1:1:alarm:b' },
      ],
    });
    cloudWatch.on(TagResourceCommand).resolves({});
    await alarms.tag(['silo-acme-CPUUtilization', 'silo-acme-FreeableMemory', 'silo-acme-Gone'], {
      'silo:tier': 'pro',
    });
    expect(cloudWatch.commandCalls(DescribeAlarmsCommand)[0].args[0].input).toEqual({
      AlarmNames: ['silo-acme-CPUUtilization', 'silo-acme-FreeableMemory', 'silo-acme-Gone'],
      AlarmTypes: ['MetricAlarm'],
    });
    expect(cloudWatch.commandCalls(TagResourceCommand).map((c) => c.args[0].input)).toEqual([
      { ResourceARN: 'arn:aws:cloudwatch:us-east-1:1:alarm:a', Tags: [{ Key: 'silo:tier', Value: 'pro' }] },
      { ResourceARN: 'arn:aws:cloudwatch:us-east-1:1:alarm:b', Tags: [{ Key: 'silo:tier', Value: 'pro' }] },
    ]);
  });

  it('reads every alarm under the prefix, 100 a page, following NextToken, and takes an abort signal', async () => {
    cloudWatch
      .on(DescribeAlarmsCommand, { NextToken: undefined })
      .resolves({
        MetricAlarms: [{ AlarmName: 'silo-a-CPUUtilization', StateValue: 'ALARM' }],
        NextToken: 'p2',
      })
      .on(DescribeAlarmsCommand, { NextToken: 'p2' })
      .resolves({
        MetricAlarms: [
          { AlarmName: 'silo-b-FreeableMemory', StateValue: 'OK' },
          // Filtered again here: moto does not apply every filter CloudWatch does.
          { AlarmName: 'silos-c-CPUUtilization', StateValue: 'OK' },
        ],
      });
    const found = await alarms.withPrefix('silo', new AbortController().signal);
    expect(found.map((a) => [a.name, a.state])).toEqual([
      ['silo-a-CPUUtilization', 'ALARM'],
      ['silo-b-FreeableMemory', 'OK'],
    ]);
    expect(cloudWatch.commandCalls(DescribeAlarmsCommand).map((c) => c.args[0].input)).toEqual([
      { AlarmNamePrefix: 'silo-', AlarmTypes: ['MetricAlarm'], MaxRecords: 100, NextToken: undefined },
      { AlarmNamePrefix: 'silo-', AlarmTypes: ['MetricAlarm'], MaxRecords: 100, NextToken: 'p2' },
    ]);
  });
});
