import {
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  PutMetricAlarmCommand,
} from '@aws-sdk/client-cloudwatch';
import {
  CreateDBInstanceCommand,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
} from '@aws-sdk/client-rds';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
} from '@aws-sdk/client-secrets-manager';
import { randomBytes } from 'node:crypto';
import { testConfig, uniqueToken } from '../../../test/support/test-config';
import { awsEndpoint } from '../../../test/support/test-services';
import { AwsClients } from '../src';

// Proves that the three SDK v3 clients, configured the way Silo configures them, and the
// emulator agree on protocols (RDS query/XML, Secrets Manager JSON 1.1, CloudWatch JSON 1.0)
// over real HTTP.
describe('AWS SDK v3 clients against the emulator', () => {
  const config = testConfig();
  const aws = new AwsClients(config);
  const id = `silo-smoke-${uniqueToken()}`;
  const tags = [
    { Key: 'managed-by', Value: 'silo' },
    { Key: 'silo:tenant-slug', Value: id },
  ];

  afterAll(() => aws.onApplicationShutdown());

  it('sends every client to the configured endpoint', async () => {
    for (const client of [aws.rds, aws.secretsManager, aws.cloudWatch]) {
      const endpoint = await client.config.endpoint!();
      expect(`${endpoint.protocol}//${endpoint.hostname}:${endpoint.port}`).toBe(awsEndpoint());
    }
  });

  it('creates, reads and deletes a secret', async () => {
    const value = JSON.stringify({ username: 'silo_admin', password: randomBytes(16).toString('base64url') });
    const created = await aws.secretsManager.send(
      new CreateSecretCommand({ Name: `${id}/master`, SecretString: value, Tags: tags }),
    );
    expect(created.ARN).toMatch(/^arn:aws:secretsmanager:us-east-1:\d{12}:secret:silo-smoke-/);

    const read = await aws.secretsManager.send(new GetSecretValueCommand({ SecretId: `${id}/master` }));
    expect(read.SecretString).toBe(value);
    const described = await aws.secretsManager.send(new DescribeSecretCommand({ SecretId: created.ARN }));
    expect(described.Tags).toEqual(expect.arrayContaining(tags));

    await aws.secretsManager.send(
      new DeleteSecretCommand({ SecretId: created.ARN, ForceDeleteWithoutRecovery: true }),
    );
    await expect(
      aws.secretsManager.send(new GetSecretValueCommand({ SecretId: created.ARN })),
    ).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
  });

  it('creates, describes and deletes an encrypted PostgreSQL instance', async () => {
    await aws.rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: id,
        Engine: 'postgres',
        EngineVersion: '16.4',
        DBInstanceClass: 'db.t3.micro',
        AllocatedStorage: 20,
        StorageType: 'gp3',
        StorageEncrypted: true,
        MasterUsername: 'silo_admin',
        MasterUserPassword: randomBytes(18).toString('base64url'),
        DBName: 'app',
        PubliclyAccessible: false,
        BackupRetentionPeriod: 7,
        MultiAZ: false,
        DeletionProtection: false,
        CopyTagsToSnapshot: true,
        Tags: tags,
      }),
    );
    const { DBInstances } = await aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }));
    expect(DBInstances).toHaveLength(1);
    expect(DBInstances![0]).toMatchObject({
      DBInstanceIdentifier: id,
      DBInstanceStatus: 'available',
      Engine: 'postgres',
      DBInstanceClass: 'db.t3.micro',
      AllocatedStorage: 20,
      StorageEncrypted: true,
      MultiAZ: false,
      BackupRetentionPeriod: 7,
      Endpoint: { Address: expect.stringContaining(id), Port: 5432 },
    });
    expect(DBInstances![0].TagList).toEqual(expect.arrayContaining(tags));

    await aws.rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: id, SkipFinalSnapshot: true }));
    await expect(
      aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id })),
    ).rejects.toMatchObject({
      name: 'DBInstanceNotFoundFault',
    });
  });

  it('puts, describes and deletes a metric alarm', async () => {
    const alarmName = `${id}-CPUUtilization`;
    await aws.cloudWatch.send(
      new PutMetricAlarmCommand({
        AlarmName: alarmName,
        Namespace: 'AWS/RDS',
        MetricName: 'CPUUtilization',
        Dimensions: [{ Name: 'DBInstanceIdentifier', Value: id }],
        Statistic: 'Average',
        Period: 300,
        EvaluationPeriods: 3,
        Threshold: 80,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'missing',
        Tags: tags,
      }),
    );
    const { MetricAlarms } = await aws.cloudWatch.send(
      new DescribeAlarmsCommand({ AlarmNames: [alarmName] }),
    );
    expect(MetricAlarms).toHaveLength(1);
    expect(MetricAlarms![0]).toMatchObject({
      AlarmName: alarmName,
      MetricName: 'CPUUtilization',
      Namespace: 'AWS/RDS',
      Threshold: 80,
      ComparisonOperator: 'GreaterThanThreshold',
      Dimensions: [{ Name: 'DBInstanceIdentifier', Value: id }],
    });

    await aws.cloudWatch.send(new DeleteAlarmsCommand({ AlarmNames: [alarmName] }));
    const after = await aws.cloudWatch.send(new DescribeAlarmsCommand({ AlarmNames: [alarmName] }));
    expect(after.MetricAlarms).toEqual([]);
  });
});
