import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import {
  AddTagsToResourceCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBInstanceCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { ListSecretsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsClients } from './aws-clients';
import { FleetInventory } from './fleet-inventory.adapter';
import { awsError } from './testing/fake-aws';
import { offlineConfig } from './testing/offline-config';

const config = offlineConfig();

describe('FleetInventory', () => {
  const rds = mockClient(RDSClient);
  const secrets = mockClient(SecretsManagerClient);
  const cloudWatch = mockClient(CloudWatchClient);
  const clients = new AwsClients(config);
  const inventory = new FleetInventory(clients);
  beforeEach(() => {
    rds.reset();
    secrets.reset();
    cloudWatch.reset();
  });
  afterAll(() => clients.onApplicationShutdown());

  it('reads instances 100 a page, following the marker, and keeps only those under the prefix', async () => {
    rds
      .on(DescribeDBInstancesCommand, { Marker: undefined })
      .resolves({
        DBInstances: [{ DBInstanceIdentifier: 'silo-a', TagList: [{ Key: 'managed-by', Value: 'silo' }] }],
        Marker: 'p2',
      })
      .on(DescribeDBInstancesCommand, { Marker: 'p2' })
      .resolves({
        DBInstances: [
          { DBInstanceIdentifier: 'other-b' },
          {
            DBInstanceIdentifier: 'silo-c',
            BackupRetentionPeriod: 7,
            EngineVersion: '16.4',
            DBParameterGroups: [
              { DBParameterGroupName: 'silo-postgres16', ParameterApplyStatus: 'pending-reboot' },
            ],
          },
        ],
      });
    const found = await inventory.instances('silo');
    expect(found.map((i) => [i.identifier, i.backupRetentionDays, i.tags])).toEqual([
      ['silo-a', 0, { 'managed-by': 'silo' }],
      ['silo-c', 7, {}],
    ]);
    expect(found.map((i) => [i.engineVersion, i.parameterGroups])).toEqual([
      ['', []],
      ['16.4', [{ name: 'silo-postgres16', applyStatus: 'pending-reboot' }]],
    ]);
    expect(rds.commandCalls(DescribeDBInstancesCommand).map((c) => c.args[0].input)).toEqual([
      { MaxRecords: 100, Marker: undefined },
      { MaxRecords: 100, Marker: 'p2' },
    ]);
  });

  it('lists secrets by name prefix, those scheduled for deletion included, 100 a page', async () => {
    secrets
      .on(ListSecretsCommand, { NextToken: undefined })
      .resolves({ SecretList: [{ Name: 'silo/a/master', ARN: 'arn:1' }], NextToken: 't2' })
      .on(ListSecretsCommand, { NextToken: 't2' })
      .resolves({ SecretList: [{ Name: 'silo/a/app', ARN: 'arn:2', DeletedDate: new Date(0) }] });
    const found = await inventory.secrets('silo');
    expect(found.map((s) => [s.name, s.deletedDate])).toEqual([
      ['silo/a/master', null],
      ['silo/a/app', new Date(0)],
    ]);
    expect(secrets.commandCalls(ListSecretsCommand)[0].args[0].input).toEqual({
      Filters: [{ Key: 'name', Values: ['silo/'] }],
      IncludePlannedDeletion: true,
      MaxResults: 100,
      NextToken: undefined,
    });
  });

  it('keeps only manual snapshots under the prefix tagged managed-by=silo', async () => {
    rds.on(DescribeDBSnapshotsCommand).resolves({
      DBSnapshots: [
        { DBSnapshotIdentifier: 'silo-a-final-1', TagList: [{ Key: 'managed-by', Value: 'silo' }] },
        { DBSnapshotIdentifier: 'silo-b-manual' },
        { DBSnapshotIdentifier: 'elsewhere-final-1', TagList: [{ Key: 'managed-by', Value: 'silo' }] },
      ],
    });
    expect((await inventory.snapshots('silo')).map((s) => s.identifier)).toEqual(['silo-a-final-1']);
    expect(rds.commandCalls(DescribeDBSnapshotsCommand)[0].args[0].input).toMatchObject({
      SnapshotType: 'manual',
      MaxRecords: 100,
    });
  });

  it('asks for alarms 100 names a call, and none for no names', async () => {
    cloudWatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [] });
    await inventory.alarms([]);
    expect(cloudWatch.commandCalls(DescribeAlarmsCommand)).toHaveLength(0);
    const names = Array.from({ length: 250 }, (_, i) => `silo-t${i}-CPUUtilization`);
    await inventory.alarms(names);
    expect(
      cloudWatch.commandCalls(DescribeAlarmsCommand).map((c) => c.args[0].input.AlarmNames?.length),
    ).toEqual([100, 100, 50]);
  });

  it('repairs protection in one ModifyDBInstance applied at once, and tags by ARN', async () => {
    rds.on(ModifyDBInstanceCommand).resolves({});
    rds.on(AddTagsToResourceCommand).resolves({});
    await inventory.protectInstance('silo-a', { deletionProtection: true, backupRetentionDays: 35 });
    await inventory.tagInstance('arn:aws:rds:us-east-1:1:db:silo-a', { 'managed-by': 'silo' });
    expect(rds.commandCalls(ModifyDBInstanceCommand)[0].args[0].input).toEqual({
      DBInstanceIdentifier: 'silo-a',
      DeletionProtection: true,
      BackupRetentionPeriod: 35,
      CopyTagsToSnapshot: undefined,
      ApplyImmediately: true,
    });
    expect(rds.commandCalls(AddTagsToResourceCommand)[0].args[0].input).toEqual({
      ResourceName: 'arn:aws:rds:us-east-1:1:db:silo-a',
      Tags: [{ Key: 'managed-by', Value: 'silo' }],
    });
  });

  it('classifies throttling as retryable, so the pass records it and the next one tries again', async () => {
    rds.on(DescribeDBInstancesCommand).rejects(awsError('ThrottlingException', 400, 'Rate exceeded'));
    const failure = await inventory.instances('silo').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ProvisioningError);
    expect(failure).toMatchObject({ code: ProvisioningErrorCode.AWS_UNAVAILABLE, retryable: true });
  });
});
