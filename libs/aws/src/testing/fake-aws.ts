import {
  CloudWatchClient,
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  PutMetricAlarmCommand,
  type PutMetricAlarmCommandInput,
} from '@aws-sdk/client-cloudwatch';
import {
  CreateDBInstanceCommand,
  CreateDBParameterGroupCommand,
  DBInstanceAlreadyExistsFault,
  DBInstanceNotFoundFault,
  DBParameterGroupAlreadyExistsFault,
  DBParameterGroupNotFoundFault,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  DescribeDBParameterGroupsCommand,
  DescribeDBParametersCommand,
  ListTagsForResourceCommand,
  ModifyDBInstanceCommand,
  ModifyDBParameterGroupCommand,
  RDSClient,
  type CreateDBInstanceCommandInput,
  type CreateDBParameterGroupCommandInput,
  type ModifyDBParameterGroupCommandInput,
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
  /** DB parameter groups by name, with the parameters set in them. */
  readonly parameterGroups = new Map<
    string,
    { input: CreateDBParameterGroupCommandInput; parameters: Map<string, string> }
  >();
  readonly secretValues = new Map<string, { value: string; tags: Tag[]; deleted: boolean }>();
  readonly alarms = new Map<string, PutMetricAlarmCommandInput>();
  /** Status DescribeDBInstances reports for the next calls, then 'available'. */
  readonly statusQueue: string[] = [];
  readonly calls: string[] = [];
  private readonly faults = new Map<string, (Error | null)[]>();

  constructor() {
    this.fakeParameterGroups();
    this.rds.on(CreateDBInstanceCommand).callsFake((input: CreateDBInstanceCommandInput) => {
      this.hit('CreateDBInstance');
      const id = input.DBInstanceIdentifier!;
      if (this.instances.has(id))
        throw new DBInstanceAlreadyExistsFault({ message: 'exists', $metadata: {} });
      const group = input.DBParameterGroupName;
      if (group && !group.startsWith('default.') && !this.parameterGroups.has(group))
        throw new DBParameterGroupNotFoundFault({ message: `${group} not found`, $metadata: {} });
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
            DBParameterGroups: [
              {
                DBParameterGroupName: found.input.DBParameterGroupName ?? 'default.postgres16',
                ParameterApplyStatus: 'in-sync',
              },
            ],
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

  private fakeParameterGroups(): void {
    const group = (name: string) => {
      const found = this.parameterGroups.get(name);
      if (!found) throw new DBParameterGroupNotFoundFault({ message: `${name} not found`, $metadata: {} });
      return found;
    };
    this.rds.on(CreateDBParameterGroupCommand).callsFake((input: CreateDBParameterGroupCommandInput) => {
      this.hit('CreateDBParameterGroup');
      if (this.parameterGroups.has(input.DBParameterGroupName!))
        throw new DBParameterGroupAlreadyExistsFault({ message: 'exists', $metadata: {} });
      this.parameterGroups.set(input.DBParameterGroupName!, { input, parameters: new Map() });
      return { DBParameterGroup: { DBParameterGroupName: input.DBParameterGroupName } };
    });
    this.rds.on(DescribeDBParameterGroupsCommand).callsFake((input: { DBParameterGroupName?: string }) => {
      this.hit('DescribeDBParameterGroups');
      const found = group(input.DBParameterGroupName!);
      return {
        DBParameterGroups: [
          {
            DBParameterGroupName: input.DBParameterGroupName,
            DBParameterGroupFamily: found.input.DBParameterGroupFamily,
            DBParameterGroupArn: pgArn(input.DBParameterGroupName!),
          },
        ],
      };
    });
    this.rds.on(ListTagsForResourceCommand).callsFake((input: { ResourceName?: string }) => {
      this.hit('ListTagsForResource');
      return { TagList: group(input.ResourceName!.split(':pg:')[1]).input.Tags ?? [] };
    });
    this.rds.on(DescribeDBParametersCommand).callsFake((input: { DBParameterGroupName?: string }) => {
      this.hit('DescribeDBParameters');
      const { parameters } = group(input.DBParameterGroupName!);
      return {
        Parameters: [...parameters].map(([ParameterName, ParameterValue]) => ({
          ParameterName,
          ParameterValue,
        })),
      };
    });
    this.rds.on(ModifyDBParameterGroupCommand).callsFake((input: ModifyDBParameterGroupCommandInput) => {
      this.hit('ModifyDBParameterGroup');
      const { parameters } = group(input.DBParameterGroupName!);
      for (const p of input.Parameters ?? []) parameters.set(p.ParameterName!, p.ParameterValue!);
      return { DBParameterGroupName: input.DBParameterGroupName };
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

function pgArn(name: string): string {
  return `arn:aws:rds:us-east-1:123456789012:pg:${name}`;
}

function arn(name: string): string {
  return `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}-AbCdEf`;
}
