import {
  CreateDBInstanceCommand,
  CreateDBParameterGroupCommand,
  DeleteDBInstanceCommand,
  DeleteDBParameterGroupCommand,
  DescribeDBInstancesCommand,
  DescribeDBParameterGroupsCommand,
  DescribeDBParametersCommand,
  ListTagsForResourceCommand,
} from '@aws-sdk/client-rds';
import { ProvisioningErrorCode } from '@silo/core';
import { randomBytes } from 'node:crypto';
import { testConfig, uniqueToken } from '../../../test/support/test-config';
import { AwsClients, FleetInventory, parameterGroupName, RdsInstances, type InstanceSpec } from '../src';

// Silo's parameter group made through the emulator over HTTP: once, before the first instance,
// attached to every instance made after, and never a group of that name that is not Silo's.
describe("Silo's DB parameter group against the emulator", () => {
  const prefix = `pg${uniqueToken(3)}`;
  const config = testConfig({ SILO_RESOURCE_PREFIX: prefix });
  const aws = new AwsClients(config);
  const rds = new RdsInstances(aws);
  const group = parameterGroupName(prefix, '16.4');
  const made: string[] = [];

  const spec = (slug: string, overrides: Partial<InstanceSpec> = {}): InstanceSpec => ({
    identifier: `${prefix}-${slug}`,
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
    tags: {
      'silo:tenant-id': `tenant-${slug}`,
      'silo:tenant-slug': slug,
      'silo:tier': 'starter',
      'silo:environment': 'test',
      'managed-by': 'silo',
    },
    ...overrides,
  });
  const create = async (s: InstanceSpec) => {
    const outcome = await rds.create(s, s.tags['silo:tenant-id']);
    made.push(s.identifier);
    return outcome;
  };
  const groupsOf = async (identifier: string) =>
    (await aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }))).DBInstances![0]
      .DBParameterGroups;

  afterAll(async () => {
    for (const identifier of made) {
      await aws.rds.send(
        new DeleteDBInstanceCommand({ DBInstanceIdentifier: identifier, SkipFinalSnapshot: true }),
      );
    }
    await aws.rds
      .send(new DeleteDBParameterGroupCommand({ DBParameterGroupName: group }))
      .catch(() => undefined);
    aws.onApplicationShutdown();
  });

  it('makes the group with the first instance, logical replication set and nothing else, tagged as Silo’s', async () => {
    await expect(create(spec('first'))).resolves.toBe('created');

    const { Parameters } = await aws.rds.send(
      new DescribeDBParametersCommand({ DBParameterGroupName: group, Source: 'user' }),
    );
    expect(Parameters?.map((p) => [p.ParameterName, p.ParameterValue, p.ApplyMethod])).toEqual([
      ['rds.logical_replication', '1', 'pending-reboot'],
    ]);
    const { DBParameterGroups } = await aws.rds.send(
      new DescribeDBParameterGroupsCommand({ DBParameterGroupName: group }),
    );
    expect(DBParameterGroups?.map((g) => [g.DBParameterGroupName, g.DBParameterGroupFamily])).toEqual([
      [group, 'postgres16'],
    ]);
    const { TagList } = await aws.rds.send(
      new ListTagsForResourceCommand({ ResourceName: DBParameterGroups![0].DBParameterGroupArn }),
    );
    expect(TagList).toEqual([
      { Key: 'managed-by', Value: 'silo' },
      { Key: 'silo:environment', Value: 'test' },
    ]);
    expect(await groupsOf(`${prefix}-first`)).toEqual([
      { DBParameterGroupName: group, ParameterApplyStatus: 'in-sync' },
    ]);
  });

  it('reuses it for the next instance and for a re-run, leaving it as it is', async () => {
    await expect(
      rds.ensureParameterGroup({
        name: group,
        family: 'postgres16',
        tags: { 'managed-by': 'silo', 'silo:environment': 'test' },
      }),
    ).resolves.toBe('in-place');
    await expect(create(spec('second'))).resolves.toBe('created');
    // A re-run of the first one's step after a crash: the group and the instance are found.
    await expect(rds.create(spec('first'), 'tenant-first')).resolves.toBe('already-exists');

    expect(await groupsOf(`${prefix}-second`)).toEqual([
      { DBParameterGroupName: group, ParameterApplyStatus: 'in-sync' },
    ]);
    const { Parameters } = await aws.rds.send(
      new DescribeDBParametersCommand({ DBParameterGroupName: group, Source: 'user' }),
    );
    expect(Parameters).toHaveLength(1);
  });

  it('is what the reconciler reads of each instance, beside one made outside Silo in the default group', async () => {
    const outside = `${prefix}-outside`;
    await aws.rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: outside,
        Engine: 'postgres',
        EngineVersion: '16.4',
        DBInstanceClass: 'db.t3.micro',
        AllocatedStorage: 20,
        MasterUsername: 'outside',
        MasterUserPassword: randomBytes(18).toString('base64url'),
      }),
    );
    made.push(outside);
    const found = await new FleetInventory(aws).instances(prefix);
    expect(
      Object.fromEntries(found.map((i) => [i.identifier, [i.engineVersion, i.parameterGroups]])),
    ).toEqual({
      [`${prefix}-first`]: ['16.4', [{ name: group, applyStatus: 'in-sync' }]],
      [`${prefix}-second`]: ['16.4', [{ name: group, applyStatus: 'in-sync' }]],
      [outside]: ['16.4', [{ name: 'default.postgres16', applyStatus: 'in-sync' }]],
    });
  });

  it('refuses a group of its name that is not Silo’s, and creates no instance', async () => {
    const taken = `${prefix}x`;
    const takenGroup = parameterGroupName(taken, '16.4');
    await aws.rds.send(
      new CreateDBParameterGroupCommand({
        DBParameterGroupName: takenGroup,
        DBParameterGroupFamily: 'postgres16',
        Description: 'someone else’s',
        Tags: [{ Key: 'owner', Value: 'payments' }],
      }),
    );
    try {
      await expect(
        rds.create(
          spec('taken', { identifier: `${taken}-taken`, parameterGroupName: takenGroup }),
          'tenant-taken',
        ),
      ).rejects.toMatchObject({
        code: ProvisioningErrorCode.RESOURCE_NAME_TAKEN,
        message: expect.stringContaining(`DB parameter group ${takenGroup} already exists`),
      });
      await expect(
        aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: `${taken}-taken` })),
      ).rejects.toMatchObject({ name: 'DBInstanceNotFoundFault' });
      const { Parameters } = await aws.rds.send(
        new DescribeDBParametersCommand({ DBParameterGroupName: takenGroup, Source: 'user' }),
      );
      expect(Parameters).toEqual([]);
    } finally {
      await aws.rds.send(new DeleteDBParameterGroupCommand({ DBParameterGroupName: takenGroup }));
    }
  });
});
