import {
  CloudWatchClient,
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  PutMetricAlarmCommand,
  type PutMetricAlarmCommandInput,
} from '@aws-sdk/client-cloudwatch';
import {
  CreateDBInstanceCommand,
  DBInstanceAlreadyExistsFault,
  DBInstanceNotFoundFault,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  ModifyDBInstanceCommand,
  RDSClient,
  type CreateDBInstanceCommandInput,
} from '@aws-sdk/client-rds';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';

type Tag = { Key?: string; Value?: string };

/** An AWS error as the SDK raises it, for fault injection. */
export function awsError(name: string, status: number, message = name): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    ...(name.startsWith('Throttl') ? { $retryable: { throttling: true } } : {}),
  });
}

/**
 * RDS, Secrets Manager and CloudWatch faked with aws-sdk-client-mock over a little in-memory
 * account, so that saga tests can assert both the exact requests and what is left behind.
 * `failNext(command, error, times)` makes the next calls of one command fail.
 */
export class FakeAws {
  readonly rds = mockClient(RDSClient);
  readonly secrets = mockClient(SecretsManagerClient);
  readonly cloudWatch = mockClient(CloudWatchClient);

  readonly instances = new Map<
    string,
    { input: CreateDBInstanceCommandInput; status: string; deletionProtection: boolean }
  >();
  readonly secretValues = new Map<string, { value: string; tags: Tag[]; deleted: boolean }>();
  readonly alarms = new Map<string, PutMetricAlarmCommandInput>();
  /** Status DescribeDBInstances reports for the next calls, then 'available'. */
  readonly statusQueue: string[] = [];
  readonly calls: string[] = [];
  private readonly faults = new Map<string, (Error | null)[]>();

  constructor() {
    this.rds.on(CreateDBInstanceCommand).callsFake((input: CreateDBInstanceCommandInput) => {
      this.hit('CreateDBInstance');
      const id = input.DBInstanceIdentifier!;
      if (this.instances.has(id))
        throw new DBInstanceAlreadyExistsFault({ message: 'exists', $metadata: {} });
      this.instances.set(id, {
        input,
        status: 'creating',
        deletionProtection: Boolean(input.DeletionProtection),
      });
      return { DBInstance: { DBInstanceIdentifier: id } };
    });
    this.rds.on(DescribeDBInstancesCommand).callsFake((input: { DBInstanceIdentifier?: string }) => {
      this.hit('DescribeDBInstances');
      const found = this.instances.get(input.DBInstanceIdentifier!);
      if (!found) throw new DBInstanceNotFoundFault({ message: 'not found', $metadata: {} });
      // Each describe moves a not-yet-available instance through the queued states, then to available.
      if (found.status !== 'available') found.status = this.statusQueue.shift() ?? 'available';
      return {
        DBInstances: [
          {
            DBInstanceIdentifier: input.DBInstanceIdentifier,
            DBInstanceStatus: found.status,
            DBInstanceClass: found.input.DBInstanceClass,
            Engine: 'postgres',
            EngineVersion: found.input.EngineVersion,
            MultiAZ: found.input.MultiAZ,
            StorageEncrypted: found.input.StorageEncrypted,
            DeletionProtection: found.deletionProtection,
            Endpoint:
              found.status === 'available'
                ? { Address: `${input.DBInstanceIdentifier}.fake.rds.amazonaws.com`, Port: 5432 }
                : undefined,
            TagList: found.input.Tags,
          },
        ],
      };
    });
    this.rds
      .on(ModifyDBInstanceCommand)
      .callsFake((input: { DBInstanceIdentifier?: string; DeletionProtection?: boolean }) => {
        this.hit('ModifyDBInstance');
        const found = this.instances.get(input.DBInstanceIdentifier!);
        if (!found) throw new DBInstanceNotFoundFault({ message: 'not found', $metadata: {} });
        if (input.DeletionProtection !== undefined) found.deletionProtection = input.DeletionProtection;
        return {};
      });
    this.rds.on(DeleteDBInstanceCommand).callsFake((input: { DBInstanceIdentifier?: string }) => {
      this.hit('DeleteDBInstance');
      const found = this.instances.get(input.DBInstanceIdentifier!);
      if (!found) throw new DBInstanceNotFoundFault({ message: 'not found', $metadata: {} });
      if (found.deletionProtection)
        throw awsError('InvalidParameterCombination', 400, 'deletion protection is on');
      this.instances.delete(input.DBInstanceIdentifier!);
      return {};
    });

    this.secrets
      .on(CreateSecretCommand)
      .callsFake((input: { Name?: string; SecretString?: string; Tags?: Tag[] }) => {
        this.hit('CreateSecret');
        if (this.secretValues.has(input.Name!))
          throw new ResourceExistsException({ message: 'exists', $metadata: {} });
        this.secretValues.set(input.Name!, {
          value: input.SecretString!,
          tags: input.Tags ?? [],
          deleted: false,
        });
        return { ARN: arn(input.Name!), Name: input.Name };
      });
    this.secrets.on(GetSecretValueCommand).callsFake((input: { SecretId?: string }) => {
      this.hit('GetSecretValue');
      const s = this.secret(input.SecretId!);
      return { ARN: arn(input.SecretId!), SecretString: s.value };
    });
    this.secrets.on(DescribeSecretCommand).callsFake((input: { SecretId?: string }) => {
      this.hit('DescribeSecret');
      const s = this.secretValues.get(input.SecretId!);
      if (!s) throw new ResourceNotFoundException({ message: 'not found', $metadata: {} });
      return { ARN: arn(input.SecretId!), Tags: s.tags, DeletedDate: s.deleted ? new Date() : undefined };
    });
    this.secrets
      .on(PutSecretValueCommand)
      .callsFake((input: { SecretId?: string; SecretString?: string }) => {
        this.hit('PutSecretValue');
        this.secret(input.SecretId!).value = input.SecretString!;
        return { ARN: arn(input.SecretId!) };
      });
    this.secrets
      .on(DeleteSecretCommand)
      .callsFake((input: { SecretId?: string; ForceDeleteWithoutRecovery?: boolean }) => {
        this.hit('DeleteSecret');
        this.secret(input.SecretId!);
        if (input.ForceDeleteWithoutRecovery) this.secretValues.delete(input.SecretId!);
        else this.secretValues.get(input.SecretId!)!.deleted = true;
        return {};
      });

    this.cloudWatch.on(PutMetricAlarmCommand).callsFake((input: PutMetricAlarmCommandInput) => {
      this.hit('PutMetricAlarm');
      this.alarms.set(input.AlarmName!, input);
      return {};
    });
    this.cloudWatch.on(DescribeAlarmsCommand).callsFake((input: { AlarmNames?: string[] }) => {
      this.hit('DescribeAlarms');
      const found = (input.AlarmNames ?? []).filter((n) => this.alarms.has(n));
      return {
        MetricAlarms: found.map((n) => ({
          AlarmName: n,
          MetricName: this.alarms.get(n)!.MetricName,
          Threshold: this.alarms.get(n)!.Threshold,
          StateValue: 'OK',
        })),
      };
    });
    this.cloudWatch.on(DeleteAlarmsCommand).callsFake((input: { AlarmNames?: string[] }) => {
      this.hit('DeleteAlarms');
      for (const n of input.AlarmNames ?? []) this.alarms.delete(n);
      return {};
    });
  }

  /** The next `times` calls of `command`, after letting `after` calls through, fail with `error`. */
  failNext(command: string, error: Error, times = 1, after = 0): void {
    const queued = [
      ...Array.from({ length: after }, () => null),
      ...Array.from({ length: times }, () => error),
    ];
    this.faults.set(command, [...(this.faults.get(command) ?? []), ...queued]);
  }

  restore(): void {
    this.rds.restore();
    this.secrets.restore();
    this.cloudWatch.restore();
  }

  private hit(command: string): void {
    this.calls.push(command);
    const queued = this.faults.get(command);
    const fault = queued?.shift();
    if (fault) throw fault;
  }

  private secret(name: string) {
    const s = this.secretValues.get(name);
    if (!s || s.deleted) throw new ResourceNotFoundException({ message: 'not found', $metadata: {} });
    return s;
  }
}

function arn(name: string): string {
  return `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}-AbCdEf`;
}
