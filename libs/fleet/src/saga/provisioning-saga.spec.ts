import { CreateDBInstanceCommand } from '@aws-sdk/client-rds';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import { AwsClients, RdsInstances, TenantAlarms, TenantSecrets } from '@silo/aws';
import { loadConfig } from '@silo/config';
import { ProvisioningError, ProvisioningErrorCode, type TierName } from '@silo/core';
import pino from 'pino';
import { awsError, FakeAws } from '../../../aws/src/testing/fake-aws';
import type { TenantDatabaseEndpoint, TenantDatabaseHost } from '../backends/tenant-database-host';
import { InMemoryProvisioningStore } from '../testing/in-memory-provisioning-store';
import { INSTANCE_TIERS_FILE } from '../../../../test/support/test-config';
import { loadTierProfiles } from '../tiers';
import { PROVISION_STEPS } from './provisioning-steps';
import { ProvisioningSaga, type SagaOutcome } from './provisioning-saga';
import { ProvisioningSettings } from './provisioning-settings';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:silo-alarms';
const ENDPOINT: TenantDatabaseEndpoint = { host: 'db.internal', port: 5432, database: 'app', ssl: false };
const CTX = { actor: 'system:worker', correlationId: 'job-1' };

function harness() {
  const config = loadConfig({
    envFile: false,
    env: {
      DATABASE_URL: 'postgres://unused@127.0.0.1/unused',
      REDIS_URL: 'redis://127.0.0.1:6379',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      KMS_KEY_ID: 'alias/silo-tenants',
      RDS_SUBNET_GROUP: 'silo-tenants',
      RDS_SECURITY_GROUP_IDS: 'sg-0123456789abcdef0',
      ALARM_SNS_TOPIC_ARN: TOPIC,
      SILO_ENVIRONMENT: 'test',
      STEP_MAX_ATTEMPTS: '4',
    },
  });
  const aws = new FakeAws();
  const clients = new AwsClients(config);
  const store = new InMemoryProvisioningStore();
  const host = {
    kind: 'rds' as const,
    start: jest.fn(() => Promise.resolve(ENDPOINT)),
    endpointOf: jest.fn(() => ENDPOINT),
    remove: jest.fn(() => Promise.resolve()),
    setMasterPassword: jest.fn(() => Promise.resolve()),
    replicationLogin: jest.fn(() => null),
    restore: jest.fn(() => Promise.resolve(ENDPOINT)),
    snapshot: jest.fn(() => Promise.resolve()),
    rename: jest.fn(() => Promise.resolve()),
    handOver: jest.fn(() => Promise.resolve()),
  } satisfies TenantDatabaseHost;
  const admin = {
    bootstrapAppRole: jest.fn(() => Promise.resolve({ revokedMemberships: [] })),
    runMigrations: jest.fn(() => Promise.resolve({ from: null, applied: [], schemaVersion: '0001' })),
    dropAppRole: jest.fn(() => Promise.resolve()),
    setAppLogin: jest.fn(() => Promise.resolve({ revokedMemberships: [] })),
    retireAppLogin: jest.fn(() => Promise.resolve()),
    terminateSessions: jest.fn(() => Promise.resolve({ terminated: 0, remaining: 0 })),
    checkLogin: jest.fn(() => Promise.resolve()),
    dropTenantSchema: jest.fn(() =>
      Promise.resolve({ schemaDropped: false, ledgerDropped: false, rolesDropped: [] }),
    ),
    deleteTenantRows: jest.fn(() => Promise.resolve({ rows: {}, batches: 0 })),
    dumpTenantSchema: jest.fn(() => {
      throw new Error('no shared tenants in this spec');
    }),
    exportTenantRows: jest.fn(() => {
      throw new Error('no shared tenants in this spec');
    }),
    importTenantRows: jest.fn(() => Promise.reject(new Error('no shared tenants in this spec'))),
    importTenantSchema: jest.fn(() => Promise.reject(new Error('no shared tenants in this spec'))),
    tenantImported: jest.fn(() => Promise.reject(new Error('no shared tenants in this spec'))),
  };
  const noSharedTenants = () => Promise.reject(new Error('no shared tenants in this spec'));
  const exports = {
    put: jest.fn(noSharedTenants),
    read: jest.fn(noSharedTenants),
    describe: jest.fn(noSharedTenants),
  };
  // Instance tenants only: a shared tenant here would be a bug in the test.
  const hosts = {
    place: jest.fn(() => Promise.reject(new Error('no shared tenants in this spec'))),
    host: jest.fn(() => Promise.reject(new Error('no shared tenants in this spec'))),
    release: jest.fn(() => Promise.reject(new Error('no shared tenants in this spec'))),
  };
  let clock = new Date('2026-11-22T12:00:00Z').getTime();
  const saga = new ProvisioningSaga(
    {
      store,
      rds: new RdsInstances(clients),
      secrets: new TenantSecrets(clients),
      alarms: new TenantAlarms(clients),
      host,
      admin: admin,
      // Every tier on its own instance: this spec is about instance tenants.
      settings: new ProvisioningSettings(config, loadTierProfiles(INSTANCE_TIERS_FILE)),
      hosts,
      exports,
    },
    pino({ level: 'silent' }),
    () => new Date(clock),
  );

  /** Runs job passes as BullMQ would, advancing the clock by each delay, until settled. */
  async function drive(tenantId: string, maxPasses = 100) {
    const delays: SagaOutcome[] = [];
    for (let pass = 0; pass < maxPasses; pass++) {
      const outcome = await saga.run(tenantId, CTX);
      if (outcome.kind === 'finished') return { status: outcome.status, delays };
      delays.push(outcome);
      clock += outcome.delayMs;
    }
    throw new Error('saga did not settle');
  }

  return { aws, store, host, admin, drive, clients, saga };
}

type Harness = ReturnType<typeof harness>;
const saga = (x: Harness) => x.saga;
let h: Harness;
beforeEach(() => {
  h = harness();
});
afterEach(() => {
  h.aws.restore();
  h.clients.onApplicationShutdown();
});

function secretJson(name: string): Record<string, unknown> {
  return JSON.parse(h.aws.secretValues.get(name)!.value) as Record<string, unknown>;
}

const TAGS = (id: string, slug: string, tier: TierName) =>
  expect.arrayContaining([
    { Key: 'silo:tenant-id', Value: id },
    { Key: 'silo:tenant-slug', Value: slug },
    { Key: 'silo:tier', Value: tier },
    { Key: 'silo:environment', Value: 'test' },
    { Key: 'managed-by', Value: 'silo' },
  ]);

describe('ProvisioningSaga, per tier', () => {
  const EXPECTED = {
    starter: {
      DBInstanceClass: 'db.t3.micro',
      AllocatedStorage: 20,
      Iops: undefined,
      StorageThroughput: undefined,
      MultiAZ: false,
      DeletionProtection: false,
      BackupRetentionPeriod: 7,
      EnablePerformanceInsights: false,
      PerformanceInsightsRetentionPeriod: undefined,
      PerformanceInsightsKMSKeyId: undefined,
    },
    pro: {
      DBInstanceClass: 'db.t3.small',
      AllocatedStorage: 100,
      Iops: undefined,
      StorageThroughput: undefined,
      MultiAZ: false,
      DeletionProtection: false,
      BackupRetentionPeriod: 14,
      EnablePerformanceInsights: true,
      PerformanceInsightsRetentionPeriod: 7,
      PerformanceInsightsKMSKeyId: 'alias/silo-tenants',
    },
    enterprise: {
      DBInstanceClass: 'db.m6i.large',
      AllocatedStorage: 500,
      Iops: 16000,
      StorageThroughput: 1000,
      MultiAZ: true,
      DeletionProtection: true,
      BackupRetentionPeriod: 35,
      EnablePerformanceInsights: true,
      PerformanceInsightsRetentionPeriod: 731,
      PerformanceInsightsKMSKeyId: 'alias/silo-tenants',
    },
  } as const;

  it.each(Object.keys(EXPECTED) as TierName[])(
    '%s: sends the exact CreateSecret, CreateDBInstance and PutMetricAlarm inputs',
    async (tier) => {
      const tenant = h.store.addTenant({ slug: `acme-${tier}`, tier });
      const slug = tenant.slug;
      expect(await h.drive(tenant.id)).toEqual({ status: 'ACTIVE', delays: [] });

      const masterPassword = secretJson(`silo/${slug}/master`).password as string;
      expect(masterPassword).toMatch(/^[A-Za-z0-9_-]{32}$/);
      const createSecret = h.aws.secrets.commandCalls(CreateSecretCommand).map((c) => c.args[0].input);
      expect(createSecret).toEqual([
        {
          Name: `silo/${slug}/master`,
          SecretString: JSON.stringify({
            engine: 'postgres',
            username: `silo_${slug.replace('-', '_')}_admin`,
            password: masterPassword,
          }),
          KmsKeyId: 'alias/silo-tenants',
          Tags: TAGS(tenant.id, slug, tier),
          Description: 'Managed by Silo',
        },
        {
          Name: `silo/${slug}/app`,
          SecretString: expect.any(String),
          KmsKeyId: 'alias/silo-tenants',
          Tags: TAGS(tenant.id, slug, tier),
          Description: 'Managed by Silo',
        },
      ]);

      expect(h.aws.rds.commandCalls(CreateDBInstanceCommand).map((c) => c.args[0].input)).toEqual([
        {
          DBInstanceIdentifier: `silo-${slug}`,
          Engine: 'postgres',
          EngineVersion: '17',
          DBName: 'app',
          MasterUsername: `silo_${slug.replace('-', '_')}_admin`,
          MasterUserPassword: masterPassword,
          StorageType: 'gp3',
          StorageEncrypted: true,
          KmsKeyId: 'alias/silo-tenants',
          PubliclyAccessible: false,
          DBSubnetGroupName: 'silo-tenants',
          DBParameterGroupName: 'silo-postgres17',
          VpcSecurityGroupIds: ['sg-0123456789abcdef0'],
          CopyTagsToSnapshot: true,
          AutoMinorVersionUpgrade: true,
          Tags: TAGS(tenant.id, slug, tier),
          ...EXPECTED[tier],
        },
      ]);

      const alarms = h.aws.cloudWatch.commandCalls(PutMetricAlarmCommand).map((c) => c.args[0].input);
      expect(alarms.map((a) => [a.AlarmName, a.MetricName, a.ComparisonOperator])).toEqual([
        [`silo-${slug}-CPUUtilization`, 'CPUUtilization', 'GreaterThanThreshold'],
        [`silo-${slug}-FreeStorageSpace`, 'FreeStorageSpace', 'LessThanThreshold'],
        [`silo-${slug}-DatabaseConnections`, 'DatabaseConnections', 'GreaterThanThreshold'],
        [`silo-${slug}-FreeableMemory`, 'FreeableMemory', 'LessThanThreshold'],
      ]);
      for (const alarm of alarms) {
        expect(alarm).toMatchObject({
          Namespace: 'AWS/RDS',
          Dimensions: [{ Name: 'DBInstanceIdentifier', Value: `silo-${slug}` }],
          Statistic: 'Average',
          Period: 300,
          EvaluationPeriods: 3,
          AlarmActions: [TOPIC],
          OKActions: [TOPIC],
          Tags: TAGS(tenant.id, slug, tier),
        });
      }
      const threshold = (metric: string) => alarms.find((a) => a.MetricName === metric)!.Threshold;
      const storageGiB = EXPECTED[tier].AllocatedStorage;
      expect({
        cpu: threshold('CPUUtilization'),
        storage: threshold('FreeStorageSpace'),
        connections: threshold('DatabaseConnections'),
        memory: threshold('FreeableMemory'),
      }).toEqual(
        {
          starter: {
            cpu: 90,
            storage: Math.round(storageGiB * 1024 ** 3 * 0.1),
            connections: 100,
            memory: Math.round(1024 ** 3 * 0.1),
          },
          pro: {
            cpu: 85,
            storage: Math.round(storageGiB * 1024 ** 3 * 0.15),
            connections: 191,
            memory: Math.round(2 * 1024 ** 3 * 0.1),
          },
          enterprise: {
            cpu: 80,
            storage: Math.round(storageGiB * 1024 ** 3 * 0.2),
            connections: 720,
            memory: Math.round(8 * 1024 ** 3 * 0.15),
          },
        }[tier],
      );
    },
  );

  it('writes the master secret before it creates the instance, and completes it in the RDS secret shape', async () => {
    const tenant = h.store.addTenant({ slug: 'ordered', tier: 'pro' });
    await h.drive(tenant.id);
    const firstCreateSecret = h.aws.calls.indexOf('CreateSecret');
    const createInstance = h.aws.calls.indexOf('CreateDBInstance');
    expect(firstCreateSecret).toBeGreaterThanOrEqual(0);
    expect(firstCreateSecret).toBeLessThan(createInstance);

    expect(secretJson('silo/ordered/master')).toEqual({
      engine: 'postgres',
      host: 'db.internal',
      port: 5432,
      username: 'silo_ordered_admin',
      password: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/),
      dbname: 'app',
      dbInstanceIdentifier: 'silo-ordered',
    });
    expect(secretJson('silo/ordered/app')).toEqual({
      engine: 'postgres',
      host: 'db.internal',
      port: 5432,
      username: 'silo_ordered_app_a',
      password: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/),
      dbname: 'app',
      dbInstanceIdentifier: 'silo-ordered',
    });
    expect(h.admin.bootstrapAppRole).toHaveBeenCalledWith(
      ENDPOINT,
      { username: 'silo_ordered_admin', password: secretJson('silo/ordered/master').password },
      {
        role: 'silo_ordered_app',
        login: 'silo_ordered_app_a',
        password: secretJson('silo/ordered/app').password,
        schema: 'app',
        tenantId: tenant.id,
      },
    );
    expect(h.store.tenants.get(tenant.id)).toMatchObject({
      status: 'ACTIVE',
      database: {
        instanceIdentifier: 'silo-ordered',
        endpointHost: 'db.internal',
        schemaVersion: '0001',
        storageEncrypted: true,
      },
    });
    expect(h.store.events.map((e) => e.type)).toEqual([
      'tenant.provisioning_started',
      ...PROVISION_STEPS.flatMap((s) =>
        s === 'activate' ? ['tenant.activated', 'step.completed'] : ['step.completed'],
      ),
    ]);
  });
});

describe('ProvisioningSaga, waiting and failing fast', () => {
  it('delays the job with growing intervals while the instance reports creating, never sleeping', async () => {
    const tenant = h.store.addTenant({ slug: 'slowpoke', tier: 'starter' });
    h.aws.statusQueue.push('creating', 'creating', 'creating', 'backing-up', 'creating');
    const { status, delays } = await h.drive(tenant.id);
    expect(status).toBe('ACTIVE');
    expect(delays).toHaveLength(5);
    expect(delays.every((d) => d.kind === 'delay' && d.reason.startsWith('wait-available'))).toBe(true);
    const ms = delays.map((d) => (d.kind === 'delay' ? d.delayMs : 0));
    // equal jitter: the n-th delay lies in [d/2, d], d = 15 s · 2^(n-1) capped at 120 s
    ms.forEach((delay, i) => {
      const ceiling = Math.min(15_000 * 2 ** i, 120_000);
      expect(delay).toBeGreaterThanOrEqual(ceiling / 2);
      expect(delay).toBeLessThanOrEqual(ceiling);
    });
    expect(h.store.events.filter((e) => e.type === 'step.waiting')).toHaveLength(1);
  });

  it.each([
    'failed',
    'incompatible-parameters',
    'incompatible-network',
    'storage-full',
    'inaccessible-encryption-credentials',
  ])('fails at once on the terminal state %s and cleans up', async (state) => {
    const tenant = h.store.addTenant({ slug: 'doomed', tier: 'starter' });
    h.aws.statusQueue.push(state);
    const { status, delays } = await h.drive(tenant.id);
    expect(status).toBe('FAILED');
    expect(delays).toEqual([]);
    expect(h.store.tenants.get(tenant.id)!.failure).toEqual({
      code: ProvisioningErrorCode.INSTANCE_TERMINAL_STATE,
      message: `RDS instance silo-doomed is ${state}`,
      step: 'wait-available',
    });
    expect([...h.aws.instances.keys()]).toEqual([]);
    expect([...h.aws.secretValues.keys()]).toEqual([]);
  });

  it('fails when the provisioning deadline passes while waiting, and cleans up', async () => {
    const tenant = h.store.addTenant({ slug: 'forever', tier: 'starter' });
    h.aws.statusQueue.push(...Array.from({ length: 60 }, () => 'creating'));
    const { status } = await h.drive(tenant.id);
    expect(status).toBe('FAILED');
    expect(h.store.tenants.get(tenant.id)!.failure).toMatchObject({
      code: 'DEADLINE_EXCEEDED',
      step: 'wait-available',
    });
    expect([...h.aws.instances.keys()]).toEqual([]);
  });
});

describe('ProvisioningSaga, retryable failures', () => {
  const CALLS = [
    'CreateSecret',
    'GetSecretValue',
    'CreateDBInstance',
    'DescribeDBInstances',
    'PutSecretValue',
    'PutMetricAlarm',
  ];

  it.each(CALLS)('retries %s under throttling and ends ACTIVE', async (command) => {
    const tenant = h.store.addTenant({ slug: 'throttled', tier: 'pro' });
    // One wait splits the run into two passes, so the second pass reads the secrets back.
    h.aws.statusQueue.push('creating');
    h.aws.failNext(command, awsError('ThrottlingException', 400, 'Rate exceeded'), 2);
    const { status, delays } = await h.drive(tenant.id);
    expect(status).toBe('ACTIVE');
    expect(delays.filter((d) => d.kind === 'delay' && d.reason.endsWith('retry'))).toHaveLength(2);
    expect(h.store.events.filter((e) => e.type === 'step.retrying').map((e) => e.data?.code)).toEqual([
      'AWS_UNAVAILABLE',
      'AWS_UNAVAILABLE',
    ]);
    expect(h.aws.instances.size).toBe(1);
  });

  it('counts only failures against the retry budget, not the passes spent waiting', async () => {
    const tenant = h.store.addTenant({ slug: 'patient', tier: 'enterprise' });
    // Many more waiting passes than STEP_MAX_ATTEMPTS (4 here), then one throttled describe.
    h.aws.statusQueue.push(...Array.from({ length: 10 }, () => 'creating'));
    h.aws.failNext('DescribeDBInstances', awsError('ThrottlingException', 400), 1, 10);
    const { status } = await h.drive(tenant.id);
    expect(status).toBe('ACTIVE');
    expect(h.store.events.filter((e) => e.type === 'step.retrying').map((e) => e.data?.failures)).toEqual([
      1,
    ]);
  });

  it('makes the job come back later while another worker holds the tenant', async () => {
    const tenant = h.store.addTenant({ slug: 'contended', tier: 'starter' });
    const inner = await h.store.withTenantLock(tenant.id, () => h.saga.run(tenant.id, CTX));
    expect(inner).toMatchObject({ kind: 'delay', reason: 'tenant busy in another worker' });
    expect(h.aws.calls).toEqual([]);
    expect((await h.drive(tenant.id)).status).toBe('ACTIVE');
  });

  it('retries 5xx and network errors too', async () => {
    const tenant = h.store.addTenant({ slug: 'flaky', tier: 'starter' });
    h.aws.failNext('CreateDBInstance', awsError('InternalFailure', 500));
    h.aws.failNext('PutMetricAlarm', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    expect((await h.drive(tenant.id)).status).toBe('ACTIVE');
  });

  it('gives up after STEP_MAX_ATTEMPTS retryable failures and compensates', async () => {
    const tenant = h.store.addTenant({ slug: 'hopeless', tier: 'starter' });
    h.aws.failNext('CreateDBInstance', awsError('ThrottlingException', 400), 10);
    const { status } = await h.drive(tenant.id);
    expect(status).toBe('FAILED');
    expect(h.store.tenants.get(tenant.id)!.failure).toMatchObject({
      code: 'RETRIES_EXHAUSTED',
      step: 'create-instance',
    });
    expect([...h.aws.secretValues.keys()]).toEqual([]);
  });
});

describe('ProvisioningSaga, permanent failures and compensation', () => {
  const permanent = (step: string) =>
    new ProvisioningError(ProvisioningErrorCode.DATABASE_REJECTED, `${step} refused`);
  const FAULTS: [string, (harness: Harness) => void][] = [
    ['prepare-credentials', (x) => x.aws.failNext('CreateSecret', awsError('AccessDeniedException', 400))],
    [
      'create-instance',
      (x) => x.aws.failNext('CreateDBInstance', awsError('InvalidParameterCombination', 400)),
    ],
    ['wait-available', (x) => x.host.start.mockRejectedValueOnce(permanent('wait-available'))],
    ['publish-connection', (x) => x.aws.failNext('PutSecretValue', awsError('AccessDeniedException', 400))],
    [
      'bootstrap-database',
      (x) => x.admin.bootstrapAppRole.mockRejectedValueOnce(permanent('bootstrap-database')),
    ],
    ['run-migrations', (x) => x.admin.runMigrations.mockRejectedValueOnce(permanent('run-migrations'))],
    ['create-alarms', (x) => x.aws.failNext('PutMetricAlarm', awsError('LimitExceeded', 400))],
  ];

  it.each(FAULTS)(
    'a permanent error in %s ends FAILED with everything this run created deleted, and nothing else',
    async (step, inject) => {
      // Someone else's resources in the same account must survive the clean-up.
      h.aws.secretValues.set('silo/other/master', {
        value: '{}',
        tags: [{ Key: 'silo:tenant-id', Value: 'other' }],
        deleted: false,
      });
      h.aws.instances.set('silo-other', {
        input: {
          DBInstanceIdentifier: 'silo-other',
          DBInstanceClass: 'db.t3.micro',
          Engine: 'postgres',
          Tags: [],
        },
        status: 'available',
        deletionProtection: true,
      });
      const tenant = h.store.addTenant({ slug: 'broken', tier: 'enterprise' });
      inject(h);

      const { status } = await h.drive(tenant.id);

      expect(status).toBe('FAILED');
      const record = h.store.tenants.get(tenant.id)!;
      expect(record.status).toBe('FAILED');
      expect(record.failure).toMatchObject({ step, code: expect.any(String), message: expect.any(String) });
      expect([...h.aws.secretValues.keys()]).toEqual(['silo/other/master']);
      expect([...h.aws.instances.keys()]).toEqual(['silo-other']);
      expect(h.aws.instances.get('silo-other')!.deletionProtection).toBe(true);
      expect([...h.aws.alarms.keys()]).toEqual([]);
      const reached = PROVISION_STEPS.indexOf(step as (typeof PROVISION_STEPS)[number]);
      expect(h.host.remove).toHaveBeenCalledTimes(
        reached >= PROVISION_STEPS.indexOf('wait-available') ? 1 : 0,
      );
      const statuses = h.store.stepStatuses(tenant.id);
      expect(Object.values(statuses).every((s) => s === 'compensated')).toBe(true);
      expect(Object.keys(statuses)).toEqual(PROVISION_STEPS.slice(0, reached + 1));
      expect(h.store.events.at(-1)).toMatchObject({ type: 'tenant.failed', data: { step } });
    },
  );

  it('never touches an instance of the same name that is not tagged for this tenant', async () => {
    h.aws.instances.set('silo-squatted', {
      input: {
        DBInstanceIdentifier: 'silo-squatted',
        DBInstanceClass: 'db.t3.micro',
        Engine: 'postgres',
        Tags: [{ Key: 'silo:tenant-id', Value: 'someone-else' }],
      },
      status: 'available',
      deletionProtection: false,
    });
    const tenant = h.store.addTenant({ slug: 'squatted', tier: 'starter' });
    expect((await h.drive(tenant.id)).status).toBe('FAILED');
    expect(h.store.tenants.get(tenant.id)!.failure).toMatchObject({
      code: 'RESOURCE_NAME_TAKEN',
      step: 'create-instance',
    });
    expect(h.aws.instances.has('silo-squatted')).toBe(true);
    expect(h.aws.calls).not.toContain('DeleteDBInstance');
    expect(h.aws.calls).not.toContain('ModifyDBInstance');
    expect([...h.aws.secretValues.keys()]).toEqual([]);
  });

  it('lifts deletion protection before deleting an enterprise instance it created', async () => {
    const tenant = h.store.addTenant({ slug: 'protected', tier: 'enterprise' });
    h.aws.failNext('PutMetricAlarm', awsError('LimitExceeded', 400));
    expect((await h.drive(tenant.id)).status).toBe('FAILED');
    expect(h.aws.calls.filter((c) => c === 'ModifyDBInstance' || c === 'DeleteDBInstance')).toEqual([
      'ModifyDBInstance',
      'DeleteDBInstance',
    ]);
    expect(h.aws.rds.commandCalls(CreateDBInstanceCommand)).toHaveLength(1);
  });

  // [command, calls of it the forward steps make first]
  it.each([
    ['DescribeAlarms', 0],
    ['DeleteAlarms', 0],
    ['DescribeDBInstances', 2],
    ['ModifyDBInstance', 0],
    ['DeleteDBInstance', 0],
    ['DescribeSecret', 0],
    ['DeleteSecret', 0],
  ] as const)(
    'retries %s under throttling while compensating, and still removes everything',
    async (command, forward) => {
      const tenant = h.store.addTenant({ slug: 'undo-throttled', tier: 'enterprise' });
      // The second alarm fails for good, so one alarm, the instance and both secrets need undoing.
      h.aws.failNext('PutMetricAlarm', awsError('LimitExceeded', 400), 1, 1);
      h.aws.failNext(command, awsError('Throttling', 400, 'Rate exceeded'), 2, forward);
      const { status, delays } = await h.drive(tenant.id);
      expect(status).toBe('FAILED');
      expect(delays.filter((d) => d.kind === 'delay' && d.reason.startsWith('undo'))).toHaveLength(2);
      expect(h.aws.calls.filter((c) => c === command).length).toBeGreaterThanOrEqual(forward + 3);
      expect([...h.aws.instances.keys(), ...h.aws.secretValues.keys(), ...h.aws.alarms.keys()]).toEqual([]);
    },
  );

  it('retries an undo that fails until it succeeds', async () => {
    const tenant = h.store.addTenant({ slug: 'sticky', tier: 'starter' });
    h.aws.failNext('CreateDBInstance', awsError('InvalidParameterValue', 400));
    h.aws.failNext('DeleteSecret', awsError('InternalServiceError', 500), 3);
    const { status, delays } = await h.drive(tenant.id);
    expect(status).toBe('FAILED');
    expect(delays.filter((d) => d.kind === 'delay' && d.reason === 'undo prepare-credentials')).toHaveLength(
      3,
    );
    expect([...h.aws.secretValues.keys()]).toEqual([]);
  });

  it("makes Silo's parameter group before the instance, and a retried create-instance finds it and makes it once", async () => {
    const tenant = h.store.addTenant({ slug: 'grouped', tier: 'starter' });
    h.aws.failNext('CreateDBInstance', awsError('ThrottlingException', 400));
    expect((await h.drive(tenant.id)).status).toBe('ACTIVE');
    const rdsCalls = h.aws.calls.filter((c) => /DB(ParameterGroup|Parameters|Instance$)|ListTags/.test(c));
    expect(rdsCalls).toEqual([
      'CreateDBParameterGroup',
      'ModifyDBParameterGroup',
      'CreateDBInstance',
      // The retry: the group is there, Silo's, logical replication set.
      'CreateDBParameterGroup',
      'DescribeDBParameterGroups',
      'ListTagsForResource',
      'DescribeDBParameters',
      'CreateDBInstance',
    ]);
    const group = h.aws.parameterGroups.get('silo-postgres17')!;
    expect(group.input.Tags).toEqual([
      { Key: 'managed-by', Value: 'silo' },
      { Key: 'silo:environment', Value: 'test' },
    ]);
    expect([...group.parameters]).toEqual([['rds.logical_replication', '1']]);
    expect(h.aws.instances.get('silo-grouped')!.input.DBParameterGroupName).toBe('silo-postgres17');
  });

  it('after a crash between the secret and the instance, reads the master password back instead of making a new one', async () => {
    const tenant = h.store.addTenant({ slug: 'crashy', tier: 'starter' });
    h.aws.failNext('CreateDBInstance', awsError('ThrottlingException', 400));
    expect((await saga(h).run(tenant.id, CTX)).kind).toBe('delay');
    const stored = secretJson('silo/crashy/master').password;
    // As if the worker died before recording prepare-credentials as done.
    h.store.steps.get(`${tenant.id}/provision/1`)!.get('prepare-credentials')!.status = 'running';

    expect((await h.drive(tenant.id)).status).toBe('ACTIVE');
    const masterCreates = h.aws.secrets
      .commandCalls(CreateSecretCommand)
      .filter((c) => c.args[0].input.Name === 'silo/crashy/master');
    expect(masterCreates).toHaveLength(2);
    expect(secretJson('silo/crashy/master').password).toBe(stored);
    expect(h.aws.rds.commandCalls(CreateDBInstanceCommand).at(-1)!.args[0].input.MasterUserPassword).toBe(
      stored,
    );
  });

  it('converges the app role on an app secret an earlier version wrote, which names the app role itself', async () => {
    const tenant = h.store.addTenant({ slug: 'legacy', tier: 'starter' });
    h.admin.bootstrapAppRole.mockImplementationOnce(() => {
      // As if the secret had been written before new tenants started on …_app_a.
      const stored = h.aws.secretValues.get('silo/legacy/app')!;
      stored.value = JSON.stringify({ ...JSON.parse(stored.value), username: 'silo_legacy_app' });
      return Promise.reject(
        new ProvisioningError(ProvisioningErrorCode.DATABASE_UNAVAILABLE, 'the database is restarting'),
      );
    });

    expect((await h.drive(tenant.id)).status).toBe('ACTIVE');
    expect(h.admin.bootstrapAppRole).toHaveBeenCalledTimes(2);
    expect(h.admin.bootstrapAppRole).toHaveBeenLastCalledWith(ENDPOINT, expect.anything(), {
      role: 'silo_legacy_app',
      password: secretJson('silo/legacy/app').password,
      schema: 'app',
      tenantId: tenant.id,
    });
  });

  it('leaves an ACTIVE tenant alone when its job runs again', async () => {
    const tenant = h.store.addTenant({ slug: 'done', tier: 'starter' });
    await h.drive(tenant.id);
    const calls = h.aws.calls.length;
    expect(await h.drive(tenant.id)).toEqual({ status: 'ACTIVE', delays: [] });
    expect(h.aws.calls.length).toBe(calls);
  });
});
