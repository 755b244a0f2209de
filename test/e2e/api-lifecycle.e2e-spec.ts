import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { allInstances } from '../support/all-instances';
import { DescribeDBSnapshotsCommand } from '@aws-sdk/client-rds';
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { Client } from 'pg';
import { AwsClients } from '../../libs/aws/src';
import { tenantResourceNames } from '../../libs/core/src';
import { freePort } from '../support/free-port';
import { removeTenantInstance } from '../support/local-tenant-instance';
import { PrivateRedis } from '../support/private-redis';
import { httpStatus } from '../support/silo-process';
import { running, SiloStack, type Caller, type TenantBody } from '../support/silo-stack';
import { fastLocalSagaEnvironment, testConfig, uniqueToken } from '../support/test-config';
import { instanceAdminUrl, runDatabaseUrl } from '../support/test-services';

jest.setTimeout(120_000);

const PREFIX = `al${uniqueToken(3)}`;
const ALARM_METRICS = ['CPUUtilization', 'FreeStorageSpace', 'DatabaseConnections', 'FreeableMemory'];
const OPS: Caller = { roles: ['ops'], sub: `ops-${uniqueToken(3)}` };
const ADMIN: Caller = { roles: ['admin'], sub: `admin-${uniqueToken(3)}` };
const SRE: Caller = { roles: ['sre'], sub: `sre-${uniqueToken(3)}` };

// Every stack of this file and every password its worker generated: the last test looks for
// the passwords in everything the stacks printed and answered.
const stacks: SiloStack[] = [];
const passwords: { which: string; value: string }[] = [];

/** API and worker with the local instance backend, short waits and debug logs. */
async function startStack(overrides: Record<string, string> = {}): Promise<SiloStack> {
  const stack = await SiloStack.start({
    SILO_RESOURCE_PREFIX: PREFIX,
    ...fastLocalSagaEnvironment(),
    // debug: the most log lines to search for leaked passwords.
    LOG_LEVEL: 'debug',
    ...overrides,
  });
  stacks.push(stack);
  return stack;
}

async function until(condition: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Reads both generated passwords of a tenant from Secrets Manager, for the leak check. */
async function rememberPasswords(aws: AwsClients, slug: string): Promise<void> {
  const names = tenantResourceNames(PREFIX, slug);
  for (const [which, secretId] of [
    ['master', names.masterSecretName],
    ['app', names.appSecretName],
  ]) {
    const { SecretString } = await aws.secretsManager.send(new GetSecretValueCommand({ SecretId: secretId }));
    const { password } = JSON.parse(SecretString!) as { password: string };
    expect(password.length).toBeGreaterThanOrEqual(16);
    passwords.push({ which: `${slug} ${which}`, value: password });
  }
}

describe('a tenant’s life over HTTP, with the API and the worker as built processes', () => {
  const slug = `life-${uniqueToken(3)}`;
  const names = tenantResourceNames(PREFIX, slug);
  let stack: SiloStack;
  let aws: AwsClients;
  let tenantId: string | undefined;

  beforeAll(async () => {
    stack = await startStack();
    aws = new AwsClients(testConfig(stack.env));
  });

  afterAll(async () => {
    await stack?.stop();
    aws?.onApplicationShutdown();
    await removeTenantInstance(PREFIX, slug);
  });

  const created = () => {
    if (!tenantId) throw new Error('the tenant was not created by the test before');
    return tenantId;
  };

  it('provisions a tenant ops created to ACTIVE, with its four CloudWatch alarms', async () => {
    const tiers = await stack.call<{ items: { tier: string; backupRetentionDays: number }[] }>(
      'GET',
      '/v1/tiers',
      SRE,
    );
    // The final snapshot checked below is only taken for a tier that keeps backups.
    expect(tiers.body.items.find((t) => t.tier === 'enterprise')?.backupRetentionDays).toBeGreaterThan(0);

    const res = await stack.call<TenantBody>('POST', '/v1/tenants', OPS, {
      slug,
      name: 'Lifecycle Corp',
      tier: 'enterprise',
    });
    expect(res).toMatchObject({ status: 202, body: { slug, status: 'PENDING', database: null } });
    tenantId = res.body.id;

    const active = await stack.waitForStatus(tenantId, 'ACTIVE', SRE, 45_000);
    expect(active.database).toMatchObject({
      instanceIdentifier: names.instanceIdentifier,
      endpoint: { host: expect.any(String), port: expect.any(Number) },
    });
    // Every step, activate included: it is marked done in the same transaction as ACTIVE.
    expect(active.provisioning.steps.filter((s) => s.status !== 'done').map((s) => s.name)).toEqual([]);
    expect(active.provisioning.steps).toHaveLength(8);

    // The API reads CloudWatch every 15 s in the background: the alarms show from the next read.
    const readAlarms = () =>
      stack.call<{ items: { name: string; metric: string }[] }>('GET', `/v1/tenants/${slug}/alarms`, SRE);
    await until(
      async () => (await readAlarms()).body.items.length === ALARM_METRICS.length,
      'the alarms',
      40_000,
    );
    const alarms = await readAlarms();
    expect(alarms.status).toBe(200);
    expect(alarms.body.items.map((a) => [a.metric, a.name]).sort()).toEqual(
      ALARM_METRICS.map((m) => [m, names.alarmName(m)]).sort(),
    );

    await rememberPasswords(aws, slug);
  });

  it('deprovisions it for admin: no instance or alarms left, a final snapshot, both secrets scheduled for deletion', async () => {
    const id = created();
    const res = await stack.call<TenantBody>('DELETE', `/v1/tenants/${id}?confirm=${slug}`, ADMIN);
    expect(res).toMatchObject({ status: 202, body: { status: 'DEPROVISIONING' } });
    await stack.waitForStatus(id, 'DELETED', SRE, 45_000);

    const readAlarms = () => stack.call<{ items: unknown[] }>('GET', `/v1/tenants/${slug}/alarms`, SRE);
    await until(async () => (await readAlarms()).body.items.length === 0, 'no alarms', 40_000);
    expect(await readAlarms()).toEqual({
      status: 200,
      body: { items: [], readAt: expect.any(String), of: 'tenant', host: null },
    });

    const DBInstances = await allInstances(aws.rds);
    expect((DBInstances ?? []).map((i) => i.DBInstanceIdentifier)).not.toContain(names.instanceIdentifier);
    const { MetricAlarms } = await aws.cloudWatch.send(
      new DescribeAlarmsCommand({ AlarmNamePrefix: `${names.instanceIdentifier}-` }),
    );
    expect(MetricAlarms ?? []).toEqual([]);
    const { DBSnapshots } = await aws.rds.send(
      new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: names.instanceIdentifier }),
    );
    expect((DBSnapshots ?? []).map((s) => s.DBSnapshotIdentifier)).toEqual([
      expect.stringMatching(new RegExp(`^${names.instanceIdentifier}-final-\\d{8}-\\d{6}$`)),
    ]);
    for (const secretId of [names.masterSecretName, names.appSecretName]) {
      const secret = await aws.secretsManager.send(new DescribeSecretCommand({ SecretId: secretId }));
      expect({ secretId, deletedDate: secret.DeletedDate }).toEqual({
        secretId,
        deletedDate: expect.any(Date),
      });
    }

    // The local instance backend's database went with the instance.
    const admin = new Client({ connectionString: instanceAdminUrl() });
    await admin.connect();
    try {
      const { rows } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [
        names.instanceIdentifier,
      ]);
      expect(rows).toEqual([]);
    } finally {
      await admin.end();
    }
  });

  it('keeps who did what in the events: ops created it, admin deleted it, the worker ran the steps', async () => {
    const events = await stack.call<{ items: { type: string; actor: string }[] }>(
      'GET',
      `/v1/tenants/${created()}/events`,
      SRE,
    );
    expect(events.status).toBe(200);
    const actorOf = (type: string) => [
      ...new Set(events.body.items.filter((e) => e.type === type).map((e) => e.actor)),
    ];
    expect(actorOf('tenant.created')).toEqual([OPS.sub]);
    expect(actorOf('tenant.deletion_requested')).toEqual([ADMIN.sub]);
    expect(actorOf('step.completed')).toEqual(['system:worker']);
    expect(actorOf('tenant.activated')).toEqual(['system:worker']);
    expect(actorOf('tenant.deleted')).toEqual(['system:worker']);
    // Oldest first: created … activated … deletion requested … deleted.
    const order = ['tenant.created', 'tenant.activated', 'tenant.deletion_requested', 'tenant.deleted'].map(
      (type) => events.body.items.findIndex((e) => e.type === type),
    );
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });
});

describe('a tenant created while Redis is down', () => {
  const slug = `outage-${uniqueToken(3)}`;
  let redis: PrivateRedis | undefined;
  let stack: SiloStack | undefined;
  let aws: AwsClients | undefined;
  let db: Client | undefined;

  beforeAll(async () => {
    redis = new PrivateRedis(await freePort());
    await redis.start();
    stack = await startStack({ REDIS_URL: redis.url });
    aws = new AwsClients(testConfig(stack.env));
    db = new Client({ connectionString: runDatabaseUrl() });
    await db.connect();
  });

  afterAll(async () => {
    try {
      await stack?.stop();
    } finally {
      await redis?.dispose();
      aws?.onApplicationShutdown();
      await db?.end();
      await removeTenantInstance(PREFIX, slug);
    }
  });

  it('answers 202, keeps the tenant PENDING while Redis is down, and provisions it once Redis is back with no further call', async () => {
    const api = stack!;
    await redis!.kill();
    // Expected while Redis is away; it also shows the API has noticed.
    await until(
      async () => (await httpStatus(`${api.base}/readyz`)) === 503,
      '/readyz to answer 503',
      10_000,
    );

    const res = await api.call<TenantBody>('POST', '/v1/tenants', OPS, {
      slug,
      name: 'Outage Corp',
      tier: 'starter',
    });
    expect(res).toMatchObject({ status: 202, body: { slug, status: 'PENDING' } });
    const id = res.body.id;

    // The worker's relay has tried to hand the job to the queue, and failed, more than once.
    await until(
      async () => {
        const { rows } = await db!.query<{
          attempts: number;
          last_error: string | null;
          dispatched: boolean;
        }>(
          `SELECT attempts, last_error, dispatched_at IS NOT NULL AS dispatched FROM outbox
           WHERE payload->>'tenantId' = $1`,
          [id],
        );
        expect(rows).toHaveLength(1);
        expect(rows[0].dispatched).toBe(false);
        return rows[0].attempts >= 2 && rows[0].last_error !== null;
      },
      'two failed relay attempts',
      20_000,
    );
    const during = await api.call<TenantBody>('GET', `/v1/tenants/${id}`, SRE);
    expect(during.body).toMatchObject({ status: 'PENDING', provisioning: { steps: [] } });

    await redis!.start();
    await api.waitForStatus(id, 'ACTIVE', SRE, 60_000);
    await rememberPasswords(aws!, slug);
  });
});

describe('generated passwords', () => {
  it('appear in no log line of the API or the worker and in no HTTP response of this file', () => {
    // The tenant of each scenario above: a master and an app password each.
    expect(passwords.map((p) => p.which)).toHaveLength(4);
    // Both describes stopped their processes: the output below is complete.
    const processes = stacks.flatMap((s) => s.processes);
    expect(processes.filter(running).map((p) => p.pid)).toEqual([]);
    const logs = processes.map((p) => `${p.stdout}\n${p.stderr}`).join('\n');
    for (const app of ['silo-api', 'silo-worker']) {
      expect(logs).toContain(`"app":"${app}"`);
    }
    expect(logs).toContain('"level":"debug"');
    const bodies = stacks.flatMap((s) => s.responses);
    expect(bodies.length).toBeGreaterThan(10);
    for (const { which, value } of passwords) {
      expect({
        which,
        inLogs: logs.includes(value),
        inResponses: bodies.some((b) => b.includes(value)),
      }).toEqual({
        which,
        inLogs: false,
        inResponses: false,
      });
    }
  });
});
