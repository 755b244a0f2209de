import {
  CreateDBInstanceCommand,
  CreateDBParameterGroupCommand,
  DBParameterGroupAlreadyExistsFault,
  DBParameterGroupNotFoundFault,
  DBParameterGroupQuotaExceededFault,
  DescribeDBParameterGroupsCommand,
  DescribeDBParametersCommand,
  InvalidDBParameterGroupStateFault,
  ListTagsForResourceCommand,
  ModifyDBParameterGroupCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsClients } from './aws-clients';
import { RdsInstances, type InstanceSpec } from './rds-instances.adapter';
import { parameterGroupFamily, parameterGroupName, parameterGroupTags } from './rds-parameter-groups';
import { awsError } from './testing/fake-aws';
import { offlineConfig } from './testing/offline-config';

const TENANT_ID = '6f1c0c55-63a4-4c7e-9d8b-2f1e3a4b5c6d';
const TAGS = {
  'silo:tenant-id': TENANT_ID,
  'silo:tenant-slug': 'acme',
  'silo:tier': 'enterprise',
  'silo:environment': 'test',
  'managed-by': 'silo',
};
const GROUP_ARN = 'arn:aws:rds:us-east-1:123456789012:pg:silo-postgres16';
const OUR_GROUP_TAGS = [
  { Key: 'managed-by', Value: 'silo' },
  { Key: 'silo:environment', Value: 'test' },
];
const LOGICAL_REPLICATION = {
  ParameterName: 'rds.logical_replication',
  ParameterValue: '1',
  ApplyMethod: 'pending-reboot',
};

const spec: InstanceSpec = {
  identifier: 'silo-acme',
  engineVersion: '16.4',
  instanceClass: 'db.t3.micro',
  databaseName: 'app',
  masterUsername: 'silo_acme_admin',
  masterPassword: 'not-a-real-password',
  storage: { type: 'gp3', allocatedGiB: 20 },
  multiAz: false,
  deletionProtection: false,
  backupRetentionDays: 7,
  performanceInsights: { enabled: false },
  securityGroupIds: [],
  parameterGroupName: 'silo-postgres16',
  tags: TAGS,
};

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
const config = offlineConfig();
const clients = new AwsClients(config);
const instances = new RdsInstances(clients);
afterAll(() => clients.onApplicationShutdown());

/** Every RDS command sent, by name, in order. */
const sent = () => rds.calls().map((c) => (c.args[0] as object).constructor.name.replace(/Command$/, ''));
const inputOf = <T extends abstract new (...args: never[]) => unknown>(command: T) =>
  rds.commandCalls(command as never).map((c) => (c.args[0] as { input: unknown }).input);

/** A group of Silo's name already there: `tags` and `family` as given, `parameters` its user-set ones. */
function existingGroup(
  tags = OUR_GROUP_TAGS,
  parameters: { ParameterName: string; ParameterValue: string }[] = [],
  family = 'postgres16',
) {
  rds
    .on(CreateDBParameterGroupCommand)
    .rejects(new DBParameterGroupAlreadyExistsFault({ message: 'exists', $metadata: {} }));
  rds.on(DescribeDBParameterGroupsCommand).resolves({
    DBParameterGroups: [
      {
        DBParameterGroupName: 'silo-postgres16',
        DBParameterGroupFamily: family,
        DBParameterGroupArn: GROUP_ARN,
      },
    ],
  });
  rds.on(ListTagsForResourceCommand).resolves({ TagList: tags });
  rds.on(DescribeDBParametersCommand).resolves({ Parameters: parameters });
}

beforeEach(() => {
  rds.reset();
  rds.on(CreateDBInstanceCommand).resolves({});
  rds.on(ModifyDBParameterGroupCommand).resolves({ DBParameterGroupName: 'silo-postgres16' });
});

describe('names', () => {
  it('names the group after the prefix and the major version: one group per region and engine family', () => {
    expect([parameterGroupFamily('16.4'), parameterGroupFamily('16'), parameterGroupFamily('17.2')]).toEqual([
      'postgres16',
      'postgres16',
      'postgres17',
    ]);
    expect(parameterGroupName('silo', '16.4')).toBe('silo-postgres16');
    expect(parameterGroupName('staging', '17')).toBe('staging-postgres17');
    expect(() => parameterGroupFamily('latest')).toThrow('is not a PostgreSQL version');
  });

  it("tags the group with the instance's managed-by and environment, never its tenant or host", () => {
    expect(parameterGroupTags(TAGS)).toEqual({ 'managed-by': 'silo', 'silo:environment': 'test' });
    expect(
      parameterGroupTags({ 'silo:host-id': 'h-1', 'silo:environment': 'prod', 'managed-by': 'silo' }),
    ).toEqual({ 'managed-by': 'silo', 'silo:environment': 'prod' });
  });
});

describe('RdsInstances.create: the parameter group first', () => {
  it('makes the group, sets logical replication (static: pending-reboot), then creates the instance in it', async () => {
    rds.on(CreateDBParameterGroupCommand).resolves({});
    await expect(instances.create(spec, TENANT_ID)).resolves.toBe('created');
    expect(sent()).toEqual(['CreateDBParameterGroup', 'ModifyDBParameterGroup', 'CreateDBInstance']);
    expect(inputOf(CreateDBParameterGroupCommand)).toEqual([
      {
        DBParameterGroupName: 'silo-postgres16',
        DBParameterGroupFamily: 'postgres16',
        Description: 'Managed by Silo: postgres16 defaults with rds.logical_replication=1',
        Tags: OUR_GROUP_TAGS,
      },
    ]);
    expect(inputOf(ModifyDBParameterGroupCommand)).toEqual([
      { DBParameterGroupName: 'silo-postgres16', Parameters: [LOGICAL_REPLICATION] },
    ]);
    expect(inputOf(CreateDBInstanceCommand)).toEqual([
      expect.objectContaining({ DBInstanceIdentifier: 'silo-acme', DBParameterGroupName: 'silo-postgres16' }),
    ]);
  });

  it('reuses a group of ours already set, reading only its user-set parameters, and changes nothing in it', async () => {
    existingGroup(OUR_GROUP_TAGS, [{ ParameterName: 'rds.logical_replication', ParameterValue: '1' }]);
    await expect(instances.create(spec, TENANT_ID)).resolves.toBe('created');
    expect(sent()).toEqual([
      'CreateDBParameterGroup',
      'DescribeDBParameterGroups',
      'ListTagsForResource',
      'DescribeDBParameters',
      'CreateDBInstance',
    ]);
    expect(inputOf(DescribeDBParameterGroupsCommand)).toEqual([{ DBParameterGroupName: 'silo-postgres16' }]);
    expect(inputOf(ListTagsForResourceCommand)).toEqual([{ ResourceName: GROUP_ARN }]);
    expect(inputOf(DescribeDBParametersCommand)).toEqual([
      { DBParameterGroupName: 'silo-postgres16', Source: 'user', Marker: undefined },
    ]);
  });

  it('follows the parameter pages, and sets logical replication in a group of ours that lacks it', async () => {
    existingGroup();
    rds
      .on(DescribeDBParametersCommand, { Marker: undefined })
      .resolves({ Parameters: [{ ParameterName: 'work_mem', ParameterValue: '8192' }], Marker: 'p2' })
      .on(DescribeDBParametersCommand, { Marker: 'p2' })
      .resolves({ Parameters: [{ ParameterName: 'rds.logical_replication', ParameterValue: '0' }] });
    await expect(
      instances.ensureParameterGroup({
        name: 'silo-postgres16',
        family: 'postgres16',
        tags: { 'managed-by': 'silo', 'silo:environment': 'test' },
      }),
    ).resolves.toBe('updated');
    expect(inputOf(DescribeDBParametersCommand)).toEqual([
      { DBParameterGroupName: 'silo-postgres16', Source: 'user', Marker: undefined },
      { DBParameterGroupName: 'silo-postgres16', Source: 'user', Marker: 'p2' },
    ]);
    // Only its own parameter: the operator's work_mem stays.
    expect(inputOf(ModifyDBParameterGroupCommand)).toEqual([
      { DBParameterGroupName: 'silo-postgres16', Parameters: [LOGICAL_REPLICATION] },
    ]);
  });

  it.each([
    ['another environment', [OUR_GROUP_TAGS[0], { Key: 'silo:environment', Value: 'prod' }], 'postgres16'],
    ['no managed-by', [OUR_GROUP_TAGS[1]], 'postgres16'],
    ['no tags at all', [], 'postgres16'],
    ['our tags, another family', OUR_GROUP_TAGS, 'postgres15'],
  ])(
    'refuses a group of that name with %s as RESOURCE_NAME_TAKEN, touching neither it nor the instance',
    async (_what, tags, family) => {
      existingGroup(tags, [], family);
      const error = await failure(instances.create(spec, TENANT_ID));
      expect([error.code, error.retryable]).toEqual([ProvisioningErrorCode.RESOURCE_NAME_TAKEN, false]);
      expect(error.message).toContain('DB parameter group silo-postgres16 already exists');
      expect(sent()).not.toContain('ModifyDBParameterGroup');
      expect(sent()).not.toContain('CreateDBInstance');
    },
  );

  it('retries throttling of any parameter group call and a group busy being modified; creates no instance meanwhile', async () => {
    rds
      .on(CreateDBParameterGroupCommand)
      .rejectsOnce(awsError('Throttling', 400, 'Rate exceeded'))
      .resolves({});
    rds
      .on(ModifyDBParameterGroupCommand)
      .rejectsOnce(
        new InvalidDBParameterGroupStateFault({
          message: 'The parameter group is being modified',
          $metadata: {},
        }),
      )
      .resolves({});
    const throttled = await failure(instances.create(spec, TENANT_ID));
    expect([throttled.code, throttled.retryable]).toEqual([ProvisioningErrorCode.AWS_UNAVAILABLE, true]);
    expect(throttled.message).toContain('CreateDBParameterGroup failed: Throttling: Rate exceeded');

    const busy = await failure(instances.create(spec, TENANT_ID));
    expect([busy.code, busy.retryable]).toEqual([ProvisioningErrorCode.AWS_UNAVAILABLE, true]);
    expect(busy.message).toContain('silo-postgres16 cannot be modified now');
    expect(sent()).not.toContain('CreateDBInstance');

    await expect(instances.create(spec, TENANT_ID)).resolves.toBe('created');
    expect(inputOf(CreateDBInstanceCommand)).toHaveLength(1);
  });

  it('retries throttled reads of an existing group', async () => {
    existingGroup();
    rds.on(ListTagsForResourceCommand).rejectsOnce(awsError('ThrottlingException', 400, 'slow down'));
    const error = await failure(instances.create(spec, TENANT_ID));
    expect([error.code, error.retryable]).toEqual([ProvisioningErrorCode.AWS_UNAVAILABLE, true]);
    expect(error.message).toContain('ListTagsForResource failed');
  });

  it('retries when the group is deleted between two calls, and when CreateDBInstance no longer finds it', async () => {
    existingGroup();
    rds
      .on(DescribeDBParameterGroupsCommand)
      .rejectsOnce(new DBParameterGroupNotFoundFault({ message: 'not found', $metadata: {} }));
    const gone = await failure(instances.create(spec, TENANT_ID));
    expect([gone.code, gone.retryable]).toEqual([ProvisioningErrorCode.AWS_UNAVAILABLE, true]);
    expect(gone.message).toContain('disappeared while it was being checked');

    rds.reset();
    rds.on(CreateDBParameterGroupCommand).resolves({});
    rds.on(ModifyDBParameterGroupCommand).resolves({});
    rds
      .on(CreateDBInstanceCommand)
      .rejects(new DBParameterGroupNotFoundFault({ message: 'DBParameterGroup not found', $metadata: {} }));
    const raced = await failure(instances.create(spec, TENANT_ID));
    expect([raced.code, raced.retryable]).toEqual([ProvisioningErrorCode.AWS_UNAVAILABLE, true]);
    expect(raced.message).toContain('disappeared before silo-acme was created in it');
  });

  it('fails for good, with RDS’s reason, when the account has no room for another group', async () => {
    rds.on(CreateDBParameterGroupCommand).rejects(
      new DBParameterGroupQuotaExceededFault({
        message:
          'The request cannot be processed because it would exceed the maximum number of DBParameterGroups',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const error = await failure(instances.create(spec, TENANT_ID));
    expect([error.code, error.retryable]).toEqual([ProvisioningErrorCode.AWS_REJECTED, false]);
    expect(error.message).toContain('maximum number of DBParameterGroups');
    expect(sent()).toEqual(['CreateDBParameterGroup']);
  });
});
