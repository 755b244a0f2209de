import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeDBInstancesCommand, DescribeDBSnapshotsCommand } from '@aws-sdk/client-rds';
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { removeTenantInstancesUnder } from '../../../test/support/local-tenant-instance';
import { fastLocalSagaEnvironment, testConfig, uniqueToken } from '../../../test/support/test-config';
import { databaseUrl, instanceAdminUrl, testServices } from '../../../test/support/test-services';
import { AwsClients, FleetInventory, RdsInstances, TenantAlarms, TenantSecrets } from '../../aws/src';
import {
  controlPlaneDataSourceOptions,
  HostEntity,
  HostStepEntity,
  migrateControlPlane,
  OutboxMessageEntity,
  TenantEntity,
} from '../../control-plane-db/src';
import { hostResourceNames, quoteIdentifier, type SharedPlacement } from '../../core/src';
import { appLoginRoles, readTenantLedger } from '../../tenant-schema/src';
import {
  CREATE_HOST_JOB,
  DEFAULT_TIER_PROFILES,
  DELETE_HOST_JOB,
  HostAllocator,
  HostAwsResources,
  HostError,
  HostErrorCode,
  HostRetirement,
  HostSaga,
  HostStepStore,
  HostSweep,
  LocalPostgresDatabaseHost,
  placementRequestOf,
  ProvisioningSettings,
  TenantDatabaseAdmin,
  type HostSagaDeps,
  type HostSagaOutcome,
  type SharedTierProfile,
} from '../src';

jest.setTimeout(120_000);

// A prefix and a control-plane database of its own: host names restart at 001 here, and no other
// file's tenants take these hosts' places.
const prefix = `hs${uniqueToken(3)}`;
const database = `silo_host_saga_${uniqueToken()}`;
const url = databaseUrl(testServices.postgresAdminUrl, database);
const CTX = { actor: 'test', correlationId: 'host-saga-test' };
const config = testConfig({
  SILO_RESOURCE_PREFIX: prefix,
  ...fastLocalSagaEnvironment(),
  KMS_KEY_ID: 'alias/silo-tenants',
});

let ds: DataSource;
let aws: AwsClients;
let settings: ProvisioningSettings;
let deps: HostSagaDeps;
let saga: HostSaga;
let allocator: HostAllocator;
let retirement: HostRetirement;
const lines: string[] = [];
const log = {
  info: (fields: object, message: string) => lines.push(JSON.stringify({ ...fields, message })),
  warn: (fields: object, message: string) => lines.push(JSON.stringify({ ...fields, message })),
  error: (fields: object, message: string) => lines.push(JSON.stringify({ ...fields, message })),
};

beforeAll(async () => {
  await migrateControlPlane({ url, createDatabase: true });
  ds = await new DataSource(
    controlPlaneDataSourceOptions({ url, poolMax: 8, connectTimeoutMs: 3000, applicationName: 'silo-test' }),
  ).initialize();
  aws = new AwsClients(config);
  settings = new ProvisioningSettings(config, DEFAULT_TIER_PROFILES);
  const rds = new RdsInstances(aws);
  const secrets = new TenantSecrets(aws);
  deps = {
    store: new HostStepStore(ds),
    resources: new HostAwsResources(rds, secrets, new FleetInventory(aws)),
    rds,
    secrets,
    alarms: new TenantAlarms(aws),
    backend: new LocalPostgresDatabaseHost(instanceAdminUrl()),
    admin: new TenantDatabaseAdmin(),
    settings,
  };
  saga = new HostSaga(deps);
  allocator = new HostAllocator(ds, settings);
  retirement = new HostRetirement(ds);
});

afterAll(async () => {
  await ds?.destroy();
  aws?.onApplicationShutdown();
  await removeTenantInstancesUnder(prefix);
  const admin = new Client({ connectionString: testServices.postgresAdminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)} WITH (FORCE)`);
  await admin.end();
});

/** A shared tenant placed by the allocator; a new host when none of its tier has room. */
async function placedTenant(tier: 'starter' | 'pro'): Promise<{ tenantId: string; host: HostEntity }> {
  const profile = DEFAULT_TIER_PROFILES[tier] as SharedTierProfile;
  const tenant = await ds.getRepository(TenantEntity).save({
    slug: `t-${uniqueToken(5)}`,
    name: 'Shared',
    tier,
    status: 'PROVISIONING' as const,
    placement: profile.placement,
  });
  const { host } = await allocator.placeTenant(tenant.id, placementRequestOf(profile));
  return { tenantId: tenant.id, host };
}

/** A host of its own: the allocator's record of a new host, with its create job in the outbox. */
async function newHost(placement: SharedPlacement): Promise<HostEntity> {
  const tier = placement === 'pool' ? 'starter' : 'pro';
  for (;;) {
    const placed = await placedTenant(tier);
    // Hosts hold many tenants: another host of the tier is made once one is full, so make one
    // full by hand for each test that needs a fresh host.
    await ds.query(`UPDATE hosts SET capacity_tenants = 1 WHERE id = $1`, [placed.host.id]);
    if (placed.host.status === 'creating') {
      const steps = await ds.getRepository(HostStepEntity).countBy({ hostId: placed.host.id });
      if (steps === 0) return placed.host;
    }
  }
}

/** Passes of the saga until it settles, as the job's delays would run them (shortened). */
async function drive(pass: () => Promise<HostSagaOutcome>, maxPasses = 40): Promise<HostSagaOutcome> {
  for (let i = 0; i < maxPasses; i++) {
    const outcome = await pass();
    if (outcome.kind === 'finished') return outcome;
    await new Promise((r) => setTimeout(r, Math.min(outcome.delayMs, 50)));
  }
  throw new Error('host saga did not settle');
}

async function stepsOf(
  hostId: string,
  sagaKind: 'create' | 'delete',
): Promise<Record<string, [string, number]>> {
  const rows = await ds.getRepository(HostStepEntity).find({ where: { hostId, saga: sagaKind } });
  return Object.fromEntries(rows.map((r) => [r.step, [r.status, r.attempts]]));
}

async function secretJson(name: string): Promise<Record<string, string | number>> {
  const out = await aws.secretsManager.send(new GetSecretValueCommand({ SecretId: name }));
  return JSON.parse(out.SecretString!) as Record<string, string | number>;
}

async function instanceOf(identifier: string) {
  const { DBInstances } = await aws.rds.send(
    new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }),
  );
  return DBInstances![0];
}

async function alarmsOf(instanceIdentifier: string) {
  const { MetricAlarms } = await aws.cloudWatch.send(
    new DescribeAlarmsCommand({ AlarmNamePrefix: `${instanceIdentifier}-` }),
  );
  return MetricAlarms ?? [];
}

function expectNoSecretIn(logLines: string[], ...secrets: Array<string | number | undefined>): void {
  for (const secret of secrets) {
    expect(typeof secret).toBe('string');
    expect(logLines.join('\n')).not.toContain(String(secret));
  }
}

const server = new URL(instanceAdminUrl());

describe('host saga against moto, PostgreSQL and the local backend', () => {
  let poolHost: HostEntity;

  it('creates a pool host end to end: encrypted tagged instance, secrets, pool login, migrated pool database, alarms, available', async () => {
    const { tenantId, host } = await placedTenant('starter');
    poolHost = host;
    expect(host).toMatchObject({ status: 'creating', placement: 'pool', name: 'pool-starter-001' });
    const outbox = await ds.getRepository(OutboxMessageEntity).findBy({ jobName: CREATE_HOST_JOB });
    expect(outbox.map((m) => [m.jobId, m.payload])).toEqual([
      [`create-host-${host.id}`, { hostId: host.id }],
    ]);

    await expect(drive(() => saga.create(host.id, CTX, log))).resolves.toEqual({
      kind: 'finished',
      status: 'available',
    });

    const names = hostResourceNames(prefix, host.name);
    const instance = await instanceOf(names.instanceIdentifier);
    expect(instance).toMatchObject({
      Engine: 'postgres',
      StorageEncrypted: true,
      DBInstanceClass: DEFAULT_TIER_PROFILES.starter.instanceClass,
      AllocatedStorage: DEFAULT_TIER_PROFILES.starter.storage.allocatedGiB,
      DeletionProtection: true,
    });
    expect(instance.TagList).toEqual(
      expect.arrayContaining([
        { Key: 'silo:host-id', Value: host.id },
        { Key: 'silo:host-name', Value: 'pool-starter-001' },
        { Key: 'silo:placement', Value: 'pool' },
        { Key: 'silo:tier', Value: 'starter' },
        { Key: 'silo:environment', Value: 'test' },
        { Key: 'managed-by', Value: 'silo' },
      ]),
    );
    expect(instance.TagList?.some((t) => t.Key === 'silo:tenant-id')).toBe(false);

    const shape = {
      engine: 'postgres',
      host: server.hostname,
      port: Number(server.port || 5432),
      dbname: names.instanceIdentifier,
      dbInstanceIdentifier: names.instanceIdentifier,
      password: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/),
    };
    const master = await secretJson(names.masterSecretName);
    const pool = await secretJson(names.poolAppSecretName);
    expect(master).toEqual({ ...shape, username: names.masterUsername });
    expect(pool).toEqual({ ...shape, username: appLoginRoles(names.poolAppRole)[0] });
    for (const name of [names.masterSecretName, names.poolAppSecretName]) {
      const described = await aws.secretsManager.send(new DescribeSecretCommand({ SecretId: name }));
      expect(described.KmsKeyId).toContain('silo-tenants');
      expect(described.Tags).toEqual(expect.arrayContaining([{ Key: 'silo:host-id', Value: host.id }]));
    }

    // The pool login reaches the pool's tables, one tenant at a time per transaction.
    const asPool = new Client({
      host: shape.host,
      port: shape.port,
      database: names.instanceIdentifier,
      user: String(pool.username),
      password: String(pool.password),
    });
    await asPool.connect();
    try {
      const other = '00000000-0000-4000-8000-000000000001';
      await asPool.query('BEGIN');
      await asPool.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenantId]);
      await asPool.query(`INSERT INTO app.notes (tenant_id, text) VALUES ($1, 'mine')`, [tenantId]);
      expect((await asPool.query(`SELECT text FROM app.notes`)).rows).toEqual([{ text: 'mine' }]);
      await asPool.query('COMMIT');
      await asPool.query('BEGIN');
      await asPool.query(`SELECT set_config('app.tenant_id', $1, true)`, [other]);
      expect((await asPool.query(`SELECT text FROM app.notes`)).rows).toEqual([]);
      await asPool.query('COMMIT');
      // No tenant set: no rows, never all of them.
      expect((await asPool.query(`SELECT text FROM app.notes`)).rows).toEqual([]);
      await expect(asPool.query('CREATE TABLE app.sneaky (id int)')).rejects.toMatchObject({ code: '42501' });
      // Every pooled tenant connects as this login: it may hold the host's connection budget.
      const { rows: limits } = await asPool.query<{ rolconnlimit: number }>(
        `SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user`,
      );
      expect(limits).toEqual([
        { rolconnlimit: (DEFAULT_TIER_PROFILES.starter as SharedTierProfile).capacity.connectionBudget },
      ]);
    } finally {
      await asPool.end();
    }

    const owner = {
      host: shape.host,
      port: shape.port,
      database: names.instanceIdentifier,
      user: String(master.username),
      password: String(master.password),
      ssl: false as const,
    };
    const asOwner = new Client(owner);
    await asOwner.connect();
    try {
      const { rows } = await asOwner.query<{ relrowsecurity: boolean; relforcerowsecurity: boolean }>(
        `SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'app.notes'::regclass`,
      );
      expect(rows).toEqual([{ relrowsecurity: true, relforcerowsecurity: true }]);
    } finally {
      await asOwner.end();
    }
    const ledger = await readTenantLedger(owner, { placement: 'pool', schema: 'app' });
    expect(ledger.at(-1)?.version).toBe(settings.migrations.newest);

    const alarms = await alarmsOf(names.instanceIdentifier);
    expect(alarms.map((a) => a.MetricName).sort()).toEqual(
      ['CPUUtilization', 'DatabaseConnections', 'FreeStorageSpace', 'FreeableMemory'].sort(),
    );
    expect(alarms.every((a) => a.Dimensions?.[0]?.Value === names.instanceIdentifier)).toBe(true);
    expect(alarms.find((a) => a.MetricName === 'CPUUtilization')?.Threshold).toBe(
      DEFAULT_TIER_PROFILES.starter.alarms.cpuHighPercent,
    );

    const row = await ds.getRepository(HostEntity).findOneByOrFail({ id: host.id });
    expect(row).toMatchObject({
      status: 'available',
      endpointHost: server.hostname,
      endpointPort: shape.port,
      databaseName: names.instanceIdentifier,
      schemaVersion: settings.migrations.newest,
      error: null,
    });
    expect(Object.values(await stepsOf(host.id, 'create'))).toEqual(Array(8).fill(['done', 1]));
    await expect(saga.connection(host.id)).resolves.toMatchObject({
      status: 'available',
      endpoint: { host: server.hostname, port: shape.port, database: names.instanceIdentifier },
      masterSecretName: names.masterSecretName,
      poolAppSecretName: names.poolAppSecretName,
    });
    expectNoSecretIn(lines, master.password, pool.password);
  });

  it('creates a schema host with its database and no pool login', async () => {
    const host = await newHost('schema');
    await expect(drive(() => saga.create(host.id, CTX, log))).resolves.toMatchObject({ status: 'available' });
    const names = hostResourceNames(prefix, host.name);
    expect(await stepsOf(host.id, 'create')).toEqual({
      'prepare-credentials': ['done', 1],
      'create-instance': ['done', 1],
      'wait-available': ['done', 1],
      'publish-connection': ['done', 1],
      'create-alarms': ['done', 1],
      activate: ['done', 1],
    });
    expect(await instanceOf(names.instanceIdentifier)).toMatchObject({
      StorageEncrypted: true,
      DBInstanceClass: DEFAULT_TIER_PROFILES.pro.instanceClass,
    });
    await expect(
      aws.secretsManager.send(new DescribeSecretCommand({ SecretId: names.poolAppSecretName })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    const master = await secretJson(names.masterSecretName);
    const asOwner = new Client({
      host: String(master.host),
      port: Number(master.port),
      database: String(master.dbname),
      user: String(master.username),
      password: String(master.password),
    });
    await asOwner.connect();
    await asOwner.end();
    expect(await alarmsOf(names.instanceIdentifier)).toHaveLength(4);
    expect(await ds.getRepository(HostEntity).findOneByOrFail({ id: host.id })).toMatchObject({
      status: 'available',
      schemaVersion: null,
    });
    await expect(saga.connection(host.id)).resolves.toMatchObject({ poolAppSecretName: null });
  });

  it('marks a host failed with the reason and undoes, newest first, what its run created', async () => {
    const host = await newHost('pool');
    const names = hostResourceNames(prefix, host.name);
    // RDS reports the instance in a state it does not leave by itself.
    const faulting = new HostSaga({
      ...deps,
      rds: {
        describe: async (id) => {
          const view = await deps.rds.describe(id);
          return view && { ...view, status: 'incompatible-parameters' };
        },
      },
    });
    await expect(drive(() => faulting.create(host.id, CTX, log))).resolves.toEqual({
      kind: 'finished',
      status: 'failed',
    });
    const row = await ds.getRepository(HostEntity).findOneByOrFail({ id: host.id });
    expect(row.status).toBe('failed');
    expect(row.error).toMatchObject({ step: 'wait-available', code: 'INSTANCE_TERMINAL_STATE' });
    expect(await stepsOf(host.id, 'create')).toEqual({
      'prepare-credentials': ['compensated', 1],
      'create-instance': ['compensated', 1],
      'wait-available': ['compensated', 1],
    });
    await expect(
      aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: names.instanceIdentifier })),
    ).rejects.toMatchObject({ name: 'DBInstanceNotFoundFault' });
    await expect(
      aws.secretsManager.send(new DescribeSecretCommand({ SecretId: names.masterSecretName })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    // A failed host takes no tenant: the next one of its tier goes elsewhere.
    const next = await placedTenant('starter');
    expect(next.host.id).not.toBe(host.id);
    // Another pass finds nothing left to do.
    await expect(saga.create(host.id, CTX, log)).resolves.toEqual({ kind: 'finished', status: 'failed' });
  });

  it('resumes after crashes mid-step: the secret and the instance a crashed pass made are found, the password kept', async () => {
    const host = await newHost('pool');
    const names = hostResourceNames(prefix, host.name);
    const crashes = { secret: 1, instance: 1 };
    const real = deps.resources;
    const crashing = Object.assign(Object.create(real) as HostAwsResources, {
      createSecret: async (...args: Parameters<HostAwsResources['createSecret']>) => {
        const result = await real.createSecret(...args);
        if (args[0] === names.masterSecretName && crashes.secret-- > 0)
          throw new Error('crash after CreateSecret');
        return result;
      },
      createInstance: async (...args: Parameters<HostAwsResources['createInstance']>) => {
        const result = await real.createInstance(...args);
        if (crashes.instance-- > 0) throw new Error('crash after CreateDBInstance');
        return result;
      },
    });
    const crashy = new HostSaga({ ...deps, resources: crashing });

    await expect(crashy.create(host.id, CTX, log)).rejects.toThrow('crash after CreateSecret');
    expect(await stepsOf(host.id, 'create')).toEqual({ 'prepare-credentials': ['running', 1] });
    const password = (await secretJson(names.masterSecretName)).password;

    await expect(crashy.create(host.id, CTX, log)).rejects.toThrow('crash after CreateDBInstance');
    expect(await stepsOf(host.id, 'create')).toEqual({
      'prepare-credentials': ['done', 2],
      'create-instance': ['running', 1],
    });

    // Another worker holds the host's lock: this pass comes back later and runs nothing.
    const holder = new Client({ connectionString: url });
    await holder.connect();
    await holder.query(`SELECT pg_advisory_lock(hashtext($1))`, [`silo:host:${host.id}`]);
    await expect(crashy.create(host.id, CTX, log)).resolves.toMatchObject({
      kind: 'delay',
      reason: 'host busy in another worker',
    });
    await holder.end();

    await expect(drive(() => crashy.create(host.id, CTX, log))).resolves.toMatchObject({
      status: 'available',
    });
    const steps = await stepsOf(host.id, 'create');
    expect(steps['create-instance']).toEqual(['done', 2]);
    expect(Object.values(steps).every(([status]) => status === 'done')).toBe(true);
    const master = await secretJson(names.masterSecretName);
    expect(master.password).toBe(password);
    // The owner logs in with the password the first, crashed pass stored.
    const asOwner = new Client({
      host: String(master.host),
      port: Number(master.port),
      database: String(master.dbname),
      user: String(master.username),
      password: String(master.password),
    });
    await asOwner.connect();
    await asOwner.end();
  });

  it('refuses to delete a host with tenants; once empty past the grace period the sweep deletes it', async () => {
    const host = poolHost;
    const names = hostResourceNames(prefix, host.name);
    await expect(retirement.beginDeletion(host.id)).rejects.toBeInstanceOf(HostError);
    await expect(retirement.beginDeletion(host.id)).rejects.toMatchObject({
      code: HostErrorCode.HOST_HAS_TENANTS,
    });
    const sweep = new HostSweep(retirement, { graceMs: 60_000 });
    // Empty since now: not yet past the grace period.
    await ds.query(`UPDATE tenants SET status = 'DELETED' WHERE host_id = $1`, [host.id]);
    const first = await sweep.sweep(log);
    expect(first.deleting).not.toContain(host.id);
    expect((await ds.getRepository(HostEntity).findOneByOrFail({ id: host.id })).emptySince).toBeInstanceOf(
      Date,
    );

    const later = await sweep.sweep(log, new Date(Date.now() + 120_000));
    expect(later.deleting).toContain(host.id);
    const jobs = await ds.getRepository(OutboxMessageEntity).findBy({ jobName: DELETE_HOST_JOB });
    expect(jobs.map((m) => [m.jobId, m.payload])).toContainEqual([
      `delete-host-${host.id}`,
      { hostId: host.id },
    ]);

    await expect(drive(() => saga.delete(host.id, CTX, log))).resolves.toEqual({
      kind: 'finished',
      status: 'deleted',
    });
    await expect(
      aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: names.instanceIdentifier })),
    ).rejects.toMatchObject({ name: 'DBInstanceNotFoundFault' });
    // The starter profile keeps backups (and protects its hosts from deletion, lifted first).
    const { DBSnapshots } = await aws.rds.send(
      new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: names.instanceIdentifier }),
    );
    expect(DBSnapshots?.map((s) => s.DBSnapshotIdentifier)).toEqual([
      expect.stringMatching(new RegExp(`^${names.instanceIdentifier}-final-\\d{8}-\\d{6}$`)),
    ]);
    expect(await alarmsOf(names.instanceIdentifier)).toEqual([]);
    for (const name of [names.masterSecretName, names.poolAppSecretName]) {
      const secret = await aws.secretsManager.send(new DescribeSecretCommand({ SecretId: name }));
      expect(secret.DeletedDate).toBeInstanceOf(Date);
    }
    const admin = new Client({ connectionString: instanceAdminUrl() });
    await admin.connect();
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [
      names.instanceIdentifier,
    ]);
    await admin.end();
    expect(rowCount).toBe(0);
    const row = await ds.getRepository(HostEntity).findOneByOrFail({ id: host.id });
    expect(row.status).toBe('deleted');
    expect(row.deletedAt).toBeInstanceOf(Date);
    expect(Object.values(await stepsOf(host.id, 'delete'))).toEqual(Array(5).fill(['done', 1]));
  });
});
