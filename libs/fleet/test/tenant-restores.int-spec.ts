import { CreateDBInstanceCommand, DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-secrets-manager';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../../apps/provisioning-worker/src/worker.module';
import { builtInTierProfilesFile } from '../../../test/support/built-in-tier-profiles';
import { eventually } from '../../../test/support/eventually';
import { removeTenantInstancesUnder } from '../../../test/support/local-tenant-instance';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { fastLocalSagaEnvironment, testConfig, uniqueToken } from '../../../test/support/test-config';
import { AwsClients } from '../../aws/src';
import {
  HostEntity,
  TenantChangeEntity,
  TenantEntity,
  TenantRestoreCopyEntity,
} from '../../control-plane-db/src';
import {
  hostResourceNames,
  ProvisioningError,
  ProvisioningErrorCode,
  restoreCopyNames,
  tenantResourceNames,
  type TierName,
} from '../../core/src';
import { SAGA_DEPS, TenantOnboarding, TenantRestores, type RestorePlan } from '../src';
import type { StepDeps } from '../src/saga/provisioning-steps';
import { localSnapshot } from '../../tenant-schema/src';
import { databaseUrl, hostAdminUrl, instanceAdminUrl } from '../../../test/support/test-services';
import { takeFreshBaseBackup } from '../../../test/support/fresh-base-backup';
import * as restoredHost from '../../tenant-schema/src/restored-host';

// The shared swap, wrapped so that a test can fail its step after the live host committed it.
jest.mock('../../tenant-schema/src/restored-host', () => {
  const actual = jest.requireActual<typeof restoredHost>('../../tenant-schema/src/restored-host');
  return { ...actual, swapTenantData: jest.fn(actual.swapTenantData) };
});
const swapForReal = jest.requireActual<typeof restoredHost>(
  '../../tenant-schema/src/restored-host',
).swapTenantData;

jest.setTimeout(240_000);

const prefix = `rs${uniqueToken(3)}`;
const CTX = { actor: 'ops-test', correlationId: 'restores-1' };

type Secret = { host: string; port: number; dbname: string; username: string; password: string };

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Restores of a live tenant through the worker, against moto, Redis and the local backend's own
 * cluster: its point-in-time restores replay the cluster's WAL archive, so the rows are real.
 */
describe('restoring a tenant as a copy beside it', () => {
  let database: { name: string; url: string };
  let app: INestApplicationContext;
  let aws: AwsClients;
  let ds: DataSource;
  let onboarding: TenantOnboarding;
  let restores: TenantRestores;

  beforeAll(async () => {
    database = await createOwnDatabase('restores');
    const config = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      SILO_TIER_PROFILES_FILE: builtInTierProfilesFile({
        starter: { tenantsPerHost: 10, connectionBudget: 100 },
        pro: { tenantsPerHost: 10, connectionBudget: 100 },
      }),
      ...fastLocalSagaEnvironment(),
      WORKER_CONCURRENCY: '4',
    });
    app = await (
      await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()
    ).init();
    aws = new AwsClients(config);
    ds = app.get(DataSource);
    onboarding = app.get(TenantOnboarding);
    restores = app.get(TenantRestores);
    await takeFreshBaseBackup(instanceAdminUrl());
  });

  afterAll(async () => {
    await app?.close();
    aws?.onApplicationShutdown();
    await removeTenantInstancesUnder(prefix);
    if (database) await dropDatabase(database.name);
  }, 120_000);

  async function onboard(tier: TierName, label: string): Promise<TenantEntity> {
    const { tenant } = await onboarding.createTenant(
      { slug: `${label}-${uniqueToken(2)}`, name: label, tier },
      CTX,
    );
    return eventually(
      async () => {
        const row = await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id });
        if (row.status === 'FAILED')
          throw new Error(`tenant failed: ${row.failureStep} ${row.failureMessage}`);
        expect(row.status).toBe('ACTIVE');
        return row;
      },
      120_000,
      100,
    );
  }

  async function changeEnds(tenantId: string): Promise<TenantChangeEntity> {
    return eventually(
      async () => {
        const tenant = await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenantId });
        const change = await ds
          .getRepository(TenantChangeEntity)
          .findOneByOrFail({ tenantId, run: tenant.changeRun });
        expect(['SUCCEEDED', 'FAILED']).toContain(change.status);
        return change;
      },
      180_000,
      100,
    );
  }

  async function secret(name: string): Promise<Secret> {
    const { SecretString } = await aws.secretsManager.send(new GetSecretValueCommand({ SecretId: name }));
    return JSON.parse(SecretString!) as Secret;
  }

  /** How a shared tenant's rows are reached: its schema's app login, or its pool host's login. */
  async function shared(t: TenantEntity): Promise<{ login: Secret; schema: string }> {
    if (t.placement === 'schema')
      return {
        login: await secret(tenantResourceNames(prefix, t.slug).appSecretName),
        schema: tenantResourceNames(prefix, t.slug).tenantSchema,
      };
    const host = await ds.getRepository(HostEntity).findOneByOrFail({ id: t.hostId! });
    return { login: await secret(hostResourceNames(prefix, host.name).poolAppSecretName), schema: 'app' };
  }

  async function connect(s: Secret): Promise<Client> {
    const client = new Client({
      host: s.host,
      port: s.port,
      database: s.dbname,
      user: s.username,
      password: s.password,
    });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }

  async function notes(s: Secret): Promise<string[]> {
    const client = await connect(s);
    try {
      const { rows } = await client.query<{ text: string }>('SELECT text FROM notes ORDER BY text');
      return rows.map((r) => r.text);
    } finally {
      await client.end();
    }
  }

  /** A shared tenant's rows written the way the data plane reaches them: its host's login, its tenant id. */
  async function write(t: TenantEntity, sql: string): Promise<void> {
    const s = await shared(t);
    const client = await connect(s.login);
    try {
      await client.query(`SELECT set_config('app.tenant_id', $1, false)`, [t.id]);
      await client.query(`SET search_path TO ${s.schema}`);
      await client.query(sql);
    } finally {
      await client.end();
    }
  }

  /** A shared tenant's notes, read as its application reads them. */
  async function after(t: TenantEntity): Promise<string[]> {
    const s = await shared(t);
    const client = await connect(s.login);
    try {
      await client.query(`SELECT set_config('app.tenant_id', $1, false)`, [t.id]);
      const { rows } = await client.query<{ text: string }>(
        `SELECT text FROM ${s.schema}.notes ORDER BY text`,
      );
      return rows.map((r) => r.text);
    } finally {
      await client.end();
    }
  }

  async function events(
    tenantId: string,
    type: string,
  ): Promise<Array<{ message: string; data: Record<string, unknown> }>> {
    return ds.query(
      `SELECT message, data FROM tenant_events WHERE tenant_id = $1 AND type = $2 ORDER BY id`,
      [tenantId, type],
    );
  }

  it('restores an instance tenant to a noted time as a copy: exactly the rows of that time through its read-only login, the live tenant untouched, the copy removed on request', async () => {
    const tenant = await onboard('enterprise', 'oops');
    const live = await secret(tenantResourceNames(prefix, tenant.slug).appSecretName);
    const app = await connect(live);
    await app.query(`INSERT INTO notes (text) SELECT 'kept ' || g FROM generate_series(1, 50) g`);
    await pause(1100);
    const noted = new Date();
    await pause(1100);
    await app.query(`INSERT INTO notes (text) SELECT 'later ' || g FROM generate_series(1, 20) g`);
    await app.query(`DELETE FROM notes WHERE text IN ('kept 1', 'kept 2', 'kept 3')`);
    await app.end();
    const liveNotes = await notes(live);
    expect(liveNotes).toHaveLength(67);

    await restores.requestRestore(
      tenant.id,
      { source: { pointInTime: noted.toISOString() }, mode: 'copy' },
      CTX,
    );
    // One change at a time: a second restore waits for this one.
    await expect(
      restores.requestRestore(tenant.id, { source: { latest: true }, mode: 'copy' }, CTX),
    ).rejects.toMatchObject({ code: 'TENANT_BUSY' });
    const change = await changeEnds(tenant.id);
    expect([change.status, change.errorMessage]).toEqual(['SUCCEEDED', null]);
    expect(change).toMatchObject({ kind: 'restore', to: 'copy' });
    const plan = change.plan as unknown as RestorePlan;

    // Exactly the rows of the noted time, read with the copy's own read-only login.
    const reader = await secret(plan.copy.readerSecretName);
    expect(reader.username).toBe(plan.copy.readerRole);
    const restored = await notes(reader);
    expect(restored).toEqual(Array.from({ length: 50 }, (_, i) => `kept ${i + 1}`).sort());
    const client = await connect(reader);
    try {
      await expect(client.query(`INSERT INTO notes (text) VALUES ('no')`)).rejects.toMatchObject({
        code: '25006',
      });
    } finally {
      await client.end();
    }
    // The live tenant kept everything it had; the copy is on record with its expiry.
    expect(await notes(live)).toEqual(liveNotes);
    const [copy] = await restores.copies(tenant.id);
    expect(copy).toMatchObject({
      run: change.run,
      status: 'AVAILABLE',
      instanceIdentifier: plan.copy.instanceIdentifier,
      readerSecretName: plan.copy.readerSecretName,
    });
    expect(copy.expiresAt.getTime()).toBeGreaterThan(Date.now());
    // Its removal at the TTL is on its way: written with the expiry, in one transaction.
    const recorded = await ds
      .getRepository(TenantChangeEntity)
      .findOneByOrFail({ tenantId: tenant.id, run: change.run });
    expect((recorded.plan as unknown as RestorePlan).expiresAt).toBe(copy.expiresAt.toISOString());
    const [ttlJob] = await ds.query<Array<{ delay: string }>>(
      `SELECT job_options->>'delayMs' AS delay FROM outbox WHERE job_name = 'remove-restore-copy' AND job_id = $1`,
      [`remove-restore-copy-${tenant.id}-${change.run}`],
    );
    expect(Number(ttlJob?.delay)).toBeGreaterThan(3_600_000);

    await restores.removeCopy(tenant.id, change.run, CTX);
    await eventually(
      async () => {
        const row = await ds
          .getRepository(TenantRestoreCopyEntity)
          .findOneByOrFail({ tenantId: tenant.id, run: change.run });
        expect(row.status).toBe('REMOVED');
      },
      120_000,
      200,
    );
    await expect(connect(reader)).rejects.toBeDefined();
    await expect(secret(plan.copy.readerSecretName)).rejects.toBeInstanceOf(ResourceNotFoundException);
    expect(await notes(live)).toEqual(liveNotes);
  });

  it("restores an instance tenant in place to a noted time: its own credentials open exactly that time's rows, what it held before is a copy, its record and route moved on", async () => {
    const tenant = await onboard('enterprise', 'undo');
    const names = tenantResourceNames(prefix, tenant.slug);
    const live = await secret(names.appSecretName);
    // At the noted time the tenant's ledger holds 0001 only (the built-in 0002 changes nothing
    // where 0001 made the column): the restored data is behind the newest, and the rollout the
    // restore asks for brings it forward.
    const ledgerOwner = await connect(await secret(names.masterSecretName));
    await ledgerOwner.query(`DELETE FROM public.silo_schema_ledger WHERE version = '0002'`);
    await ledgerOwner.end();
    const client = await connect(live);
    await client.query(`INSERT INTO notes (text) SELECT 'kept ' || g FROM generate_series(1, 40) g`);
    await pause(1100);
    const noted = new Date();
    await pause(1100);
    await client.query(`INSERT INTO notes (text) SELECT 'later ' || g FROM generate_series(1, 10) g`);
    await client.query(`DELETE FROM notes WHERE text IN ('kept 1', 'kept 2')`);
    await client.end();
    const before = await notes(live);
    expect(before).toHaveLength(48);
    const routeVersion = tenant.routeVersion;

    await restores.requestRestore(
      tenant.id,
      { source: { pointInTime: noted.toISOString() }, mode: 'replace', rollout: true },
      CTX,
    );
    const change = await changeEnds(tenant.id);
    expect([change.status, change.errorMessage]).toEqual(['SUCCEEDED', null]);
    expect(change).toMatchObject({ kind: 'restore', to: 'in place' });
    // Behind: the restore started a rollout of the tenant alone, which migrates it to the newest.
    const [started] = await ds.query<Array<{ data: { rolloutId: string | null; schemaVersion: string } }>>(
      `SELECT data FROM tenant_events WHERE tenant_id = $1 AND type = 'tenant.restore_rollout'`,
      [tenant.id],
    );
    expect(started.data).toMatchObject({ schemaVersion: '0001', newest: '0002' });
    expect(started.data.rolloutId).toEqual(expect.any(String));
    const rolledOut = await eventually(
      async () => {
        const [r] = await ds.query<Array<{ status: string; tenants: string[] }>>(
          `SELECT r.status, array_agg(t.tenant_id::text) AS tenants FROM schema_rollouts r
             JOIN schema_rollout_tenants t ON t.rollout_id = r.id WHERE r.id = $1 GROUP BY r.status`,
          [started.data.rolloutId],
        );
        expect(r.status).toBe('SUCCEEDED');
        return r;
      },
      120_000,
      200,
    );
    expect(rolledOut.tenants).toEqual([tenant.id]);
    const plan = change.plan as unknown as RestorePlan & {
      cutOver: { pausedForMs: number; schemaVersion: string };
    };

    // The tenant's own secret, unchanged, opens its own instance name, which holds the noted time's rows.
    const after = await secret(names.appSecretName);
    expect(after).toEqual(live);
    expect(await notes(after)).toEqual(Array.from({ length: 40 }, (_, i) => `kept ${i + 1}`).sort());
    const writer = await connect(after);
    await writer.query(`INSERT INTO notes (text) VALUES ('written after')`);
    await writer.end();
    const row = await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id });
    expect(row).toMatchObject({
      status: 'ACTIVE',
      dbInstanceIdentifier: names.instanceIdentifier,
      writesPausedAt: null,
    });
    expect(row.routeVersion).toBe(routeVersion + 1);
    expect(plan.cutOver.schemaVersion).toBe('0001');
    expect(row.schemaVersion).toBe('0002');
    const [restored] = await ds.query<Array<{ message: string; data: { pausedForMs: number } }>>(
      `SELECT message, data FROM tenant_events WHERE tenant_id = $1 AND type = 'tenant.restored'`,
      [tenant.id],
    );
    expect(restored.message).toContain(`restored in place as of ${plan.restoreTime}`);
    expect(restored.data.pausedForMs).toBe(plan.cutOver.pausedForMs);
    // The restored instance was renamed to the tenant's name: none is left under its own.
    await expect(
      aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: plan.incomingInstance! })),
    ).rejects.toMatchObject({ name: 'DBInstanceNotFoundFault' });

    // What the tenant held before is a copy with a read-only login: every row, the later ones too.
    const [copy] = await restores.copies(tenant.id);
    expect(copy).toMatchObject({
      run: change.run,
      status: 'AVAILABLE',
      instanceIdentifier: plan.copy.instanceIdentifier,
    });
    expect(Object.keys(copy.source)).toEqual(['replacedAt']);
    const reader = await secret(plan.copy.readerSecretName);
    expect(await notes(reader)).toEqual(before);
    // Neither the tenant's app login nor its master opens the copy; the copy's master does.
    await expect(
      connect({ ...live, dbname: reader.dbname, host: reader.host, port: reader.port }),
    ).rejects.toBeDefined();
    const tenantMaster = await secret(names.masterSecretName);
    await expect(connect({ ...tenantMaster, dbname: reader.dbname })).rejects.toBeDefined();
    const copyMaster = await secret(plan.copy.masterSecretName);
    const owner = await connect(copyMaster);
    await owner.end();

    await restores.removeCopy(tenant.id, change.run, CTX);
    await eventually(
      async () =>
        expect(
          (
            await ds
              .getRepository(TenantRestoreCopyEntity)
              .findOneByOrFail({ tenantId: tenant.id, run: change.run })
          ).status,
        ).toBe('REMOVED'),
      120_000,
      200,
    );
    expect(await notes(after)).toContain('written after');
  });

  it('a restore in place that cannot rename fails before its point of no return: writes resume, the restored instance goes, the tenant keeps its data', async () => {
    const tenant = await onboard('enterprise', 'blocked');
    const names = tenantResourceNames(prefix, tenant.slug);
    const live = await secret(names.appSecretName);
    const client = await connect(live);
    await client.query(`INSERT INTO notes (text) VALUES ('mine')`);
    await client.end();
    const copyNames = restoreCopyNames(prefix, tenant.slug, tenant.changeRun + 1);
    // Something else holds the name the tenant's instance would take.
    await aws.rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: copyNames.instanceIdentifier,
        DBInstanceClass: 'db.t4g.micro',
        Engine: 'postgres',
        AllocatedStorage: 20,
        MasterUsername: 'someone',
        MasterUserPassword: 'not-a-tenant-password',
      }),
    );
    await restores.requestRestore(tenant.id, { source: { latest: true }, mode: 'replace' }, CTX);
    const change = await changeEnds(tenant.id);
    expect(change).toMatchObject({
      status: 'FAILED',
      errorStep: 'cut-over',
      errorCode: 'RESOURCE_NAME_TAKEN',
    });
    await expect(
      aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: copyNames.incomingIdentifier })),
    ).rejects.toMatchObject({ name: 'DBInstanceNotFoundFault' });
    const row = await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id });
    expect(row).toMatchObject({ status: 'ACTIVE', writesPausedAt: null });
    expect(await notes(await secret(names.appSecretName))).toEqual(['mine']);
    await expect(secret(copyNames.masterSecretName)).rejects.toBeInstanceOf(ResourceNotFoundException);
  });

  it("restores from a snapshot of the instance, and keeps a deleted tenant's final snapshot with its data", async () => {
    const tenant = await onboard('enterprise', 'snap');
    const live = await secret(tenantResourceNames(prefix, tenant.slug).appSecretName);
    const client = await connect(live);
    await client.query(`INSERT INTO notes (text) SELECT 'then ' || g FROM generate_series(1, 30) g`);
    // A manual snapshot, as RDS takes it and the local backend keeps its data.
    const instance = tenantResourceNames(prefix, tenant.slug).instanceIdentifier;
    const snapshotIdentifier = `${instance}-manual-1`;
    await app.get<StepDeps>(SAGA_DEPS).rds.createSnapshot(instance, snapshotIdentifier, {
      tags: { 'silo:tenant-id': tenant.id, 'managed-by': 'silo' },
      ownerTenantId: tenant.id,
    });
    await app.get<StepDeps>(SAGA_DEPS).host.snapshot({ identifier: instance, snapshotIdentifier });
    await client.query(`INSERT INTO notes (text) SELECT 'now ' || g FROM generate_series(1, 5) g`);
    await client.end();

    await expect(
      restores.requestRestore(tenant.id, { source: { snapshot: 'not-a-snapshot' }, mode: 'copy' }, CTX),
    ).rejects.toMatchObject({ detail: { rule: 'snapshot-unknown' } });
    await restores.requestRestore(tenant.id, { source: { snapshot: snapshotIdentifier }, mode: 'copy' }, CTX);
    const change = await changeEnds(tenant.id);
    expect([change.status, change.errorMessage]).toEqual(['SUCCEEDED', null]);
    const plan = change.plan as unknown as RestorePlan;
    expect(plan.source).toEqual({ snapshot: snapshotIdentifier });
    expect(await notes(await secret(plan.copy.readerSecretName))).toEqual(
      Array.from({ length: 30 }, (_, i) => `then ${i + 1}`).sort(),
    );

    // Deleted, the tenant's instance leaves a final snapshot whose data the local backend keeps.
    await onboarding.requestDeletion(tenant.id, CTX);
    await eventually(
      async () =>
        expect((await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id })).status).toBe(
          'DELETED',
        ),
      120_000,
      200,
    );
    const [finalStep] = await ds.query<Array<{ data: { finalSnapshotIdentifier: string } }>>(
      `SELECT data FROM tenant_events WHERE tenant_id = $1 AND type = 'step.completed' AND data->>'finalSnapshotIdentifier' IS NOT NULL`,
      [tenant.id],
    );
    const saved = await localSnapshot(instanceAdminUrl(), finalStep.data.finalSnapshotIdentifier);
    expect(saved).toMatchObject({ instanceIdentifier: instance });
    // No copy outlives its tenant: the copy went with the deletion, not at its expiry.
    await eventually(
      async () => expect((await restores.copies(tenant.id)).map((c) => c.status)).toEqual(['REMOVED']),
      60_000,
      200,
    );
    await expect(secret(plan.copy.readerSecretName)).rejects.toBeInstanceOf(ResourceNotFoundException);
  });

  it('a restore that fails removes what it made, and the tenant never noticed', async () => {
    const tenant = await onboard('enterprise', 'spoiled');
    const run = tenant.changeRun + 1;
    const names = restoreCopyNames(prefix, tenant.slug, run);
    // The copy's login secret is already there, the tenant's, naming someone else: reader-login fails for good.
    await aws.secretsManager.send(
      new CreateSecretCommand({
        Name: names.readerSecretName,
        SecretString: JSON.stringify({ username: 'someone_else', password: 'not-the-reader' }),
        Tags: [{ Key: 'silo:tenant-id', Value: tenant.id }],
      }),
    );
    await restores.requestRestore(tenant.id, { source: { latest: true }, mode: 'copy' }, CTX);
    const change = await changeEnds(tenant.id);
    expect(change).toMatchObject({
      status: 'FAILED',
      errorStep: 'reader-login',
      errorCode: 'INCONSISTENT_STATE',
    });
    await expect(
      aws.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: names.instanceIdentifier })),
    ).rejects.toMatchObject({ name: 'DBInstanceNotFoundFault' });
    for (const name of [names.readerSecretName, names.masterSecretName])
      await expect(secret(name)).rejects.toBeInstanceOf(ResourceNotFoundException);
    expect(await restores.copies(tenant.id)).toEqual([]);
    // The tenant is served as before, and takes the next change.
    const after = await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id });
    expect(after.status).toBe('ACTIVE');
    expect(await notes(await secret(tenantResourceNames(prefix, tenant.slug).appSecretName))).toEqual([]);
  });

  it.each(['starter', 'pro'] as const)(
    'restores a %s tenant (on a shared host) to a noted time as a copy holding its data and nobody else’s, then in place; its neighbour keeps its rows',
    async (tier) => {
      const tenant = await onboard(tier, `sh${tier[0]}`);
      const neighbour = await onboard(tier, `nb${tier[0]}`);
      expect(neighbour.hostId).toBe(tenant.hostId);
      await write(tenant, `INSERT INTO notes (text) SELECT 'kept ' || g FROM generate_series(1, 20) g`);
      await write(
        neighbour,
        `INSERT INTO notes (text) SELECT 'next door ' || g FROM generate_series(1, 7) g`,
      );
      await takeFreshBaseBackup(hostAdminUrl());
      await pause(1100);
      const noted = new Date();
      await pause(1100);
      await write(tenant, `INSERT INTO notes (text) VALUES ('later')`);
      await write(tenant, `DELETE FROM notes WHERE text = 'kept 3'`);

      await restores.requestRestore(
        tenant.id,
        { source: { pointInTime: noted.toISOString() }, mode: 'copy' },
        CTX,
      );
      const change = await changeEnds(tenant.id);
      expect([change.status, change.errorMessage]).toEqual(['SUCCEEDED', null]);
      const plan = change.plan as unknown as RestorePlan;
      const reader = await secret(plan.copy.readerSecretName);
      expect(await notes(reader)).toEqual(Array.from({ length: 20 }, (_, i) => `kept ${i + 1}`).sort());
      // Nobody else's data is in the copy: counted as the server's superuser, whom row-level security does not filter.
      const owner = new Client({
        connectionString: databaseUrl(instanceAdminUrl(), (await secret(plan.copy.masterSecretName)).dbname),
      });
      owner.on('error', () => undefined);
      await owner.connect();
      try {
        if (tier === 'starter') {
          const { rows } = await owner.query<{ theirs: number; others: number }>(
            `SELECT count(*) FILTER (WHERE tenant_id = $1)::int AS theirs, count(*) FILTER (WHERE tenant_id <> $1)::int AS others FROM app.notes`,
            [tenant.id],
          );
          expect(rows).toEqual([{ theirs: 20, others: 0 }]);
        } else {
          const { rows } = await owner.query<{ nspname: string }>(
            `SELECT nspname FROM pg_namespace WHERE nspname = $1`,
            [tenantResourceNames(prefix, neighbour.slug).tenantSchema],
          );
          expect(rows).toEqual([]);
        }
      } finally {
        await owner.end();
      }
      // The host's tenants are untouched.
      expect(await after(neighbour)).toEqual(
        Array.from({ length: 7 }, (_, i) => `next door ${i + 1}`).sort(),
      );
      expect(await after(tenant)).toHaveLength(20);
      await restores.removeCopy(tenant.id, change.run, CTX);

      // In place: the tenant's own login sees the noted time's rows, its copy what it had, the neighbour all its own.
      const had = await after(tenant);
      await restores.requestRestore(
        tenant.id,
        { source: { pointInTime: noted.toISOString() }, mode: 'replace' },
        CTX,
      );
      const replaced = await changeEnds(tenant.id);
      expect([replaced.status, replaced.errorMessage]).toEqual(['SUCCEEDED', null]);
      expect(await after(tenant)).toEqual(Array.from({ length: 20 }, (_, i) => `kept ${i + 1}`).sort());
      const replacedPlan = replaced.plan as unknown as RestorePlan;
      expect(await notes(await secret(replacedPlan.copy.readerSecretName))).toEqual(had);
      expect(await after(neighbour)).toEqual(
        Array.from({ length: 7 }, (_, i) => `next door ${i + 1}`).sort(),
      );
      const row = await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id });
      expect(row).toMatchObject({
        writesPausedAt: null,
        routeVersion: tenant.routeVersion + 1,
        hostId: tenant.hostId,
      });
      await write(tenant, `INSERT INTO notes (text) VALUES ('after the restore')`);
      expect(await after(tenant)).toContain('after the restore');
    },
  );

  it('a shared restore in place whose step fails after the live host committed the swap goes forward: the copy keeps what the tenant had', async () => {
    const tenant = await onboard('starter', 'swapped');
    await write(tenant, `INSERT INTO notes (text) SELECT 'kept ' || g FROM generate_series(1, 12) g`);
    await takeFreshBaseBackup(hostAdminUrl());
    await pause(1100);
    const noted = new Date();
    await pause(1100);
    await write(tenant, `INSERT INTO notes (text) VALUES ('later')`);
    const had = await after(tenant);
    expect(had).toHaveLength(13);
    // The live host's transaction commits, then the step fails for good (as a lost answer to COMMIT would).
    jest.mocked(restoredHost.swapTenantData).mockImplementationOnce(async (spec) => {
      await swapForReal(spec);
      throw new restoredHost.RestoreSwapRefused('failed after the live host committed the swap');
    });

    await restores.requestRestore(
      tenant.id,
      { source: { pointInTime: noted.toISOString() }, mode: 'replace' },
      CTX,
    );
    const change = await changeEnds(tenant.id);
    expect([change.status, change.errorMessage]).toEqual(['SUCCEEDED', null]);
    expect(jest.mocked(restoredHost.swapTenantData)).toHaveBeenCalled();
    const [stuck] = await events(tenant.id, 'tenant.change_stuck');
    expect(stuck.data).toMatchObject({ step: 'swap-data', code: 'DATABASE_REJECTED' });
    // The tenant reads the restored rows; the copy, never removed, what it had before the swap.
    expect(await after(tenant)).toEqual(Array.from({ length: 12 }, (_, i) => `kept ${i + 1}`).sort());
    const plan = change.plan as unknown as RestorePlan;
    expect(await notes(await secret(plan.copy.readerSecretName))).toEqual(had);
    expect((await restores.copies(tenant.id)).map((c) => c.status)).toEqual(['AVAILABLE']);
    const row = await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id });
    expect(row).toMatchObject({ writesPausedAt: null, routeVersion: tenant.routeVersion + 1 });
  });

  it('a restore in place failing past its first rename is retried, not undone, its change showing why; Performance Insights follows the switch', async () => {
    const tenant = await onboard('enterprise', 'stuck');
    const names = tenantResourceNames(prefix, tenant.slug);
    const live = await secret(names.appSecretName);
    const client = await connect(live);
    await client.query(`INSERT INTO notes (text) VALUES ('then')`);
    await pause(1100);
    const noted = new Date();
    await pause(1100);
    await client.query(`INSERT INTO notes (text) VALUES ('since')`);
    await client.end();
    const rds = app.get<StepDeps>(SAGA_DEPS).rds;
    const modify = rds.modify.bind(rds);
    // RDS refuses to modify the tenant's instance (its name the restored one's since the second rename).
    const refused = jest
      .spyOn(rds, 'modify')
      .mockImplementation((identifier, changes, options) =>
        identifier === names.instanceIdentifier
          ? Promise.reject(new ProvisioningError(ProvisioningErrorCode.AWS_REJECTED, 'refused by the test'))
          : modify(identifier, changes, options),
      );
    try {
      await restores.requestRestore(
        tenant.id,
        { source: { pointInTime: noted.toISOString() }, mode: 'replace' },
        CTX,
      );
      const stuck = await eventually(
        async () => {
          const row = await ds
            .getRepository(TenantChangeEntity)
            .findOneByOrFail({ tenantId: tenant.id, run: tenant.changeRun + 1 });
          expect(row).toMatchObject({ status: 'RUNNING', errorStep: 'cut-over', errorCode: 'AWS_REJECTED' });
          expect((await events(tenant.id, 'step.failed')).length).toBeGreaterThanOrEqual(3);
          return row;
        },
        60_000,
        100,
      );
      expect(stuck.errorMessage).toBe('refused by the test');
      // Tried again every RETRY_MAX_DELAY_MS (200 ms here), one event saying why it is stuck.
      const [first, ...rest] = await events(tenant.id, 'tenant.change_stuck');
      expect(rest).toEqual([]);
      expect(first.message).toContain('cut-over failed (AWS_REJECTED): refused by the test');
      const since = (await events(tenant.id, 'step.failed')).length;
      await pause(1000);
      expect((await events(tenant.id, 'step.failed')).length - since).toBeLessThanOrEqual(6);
      // What the switch asks of the restored instance: the tier's deletion protection and Performance Insights.
      expect(refused).toHaveBeenCalledWith(
        names.instanceIdentifier,
        expect.objectContaining({ performanceInsights: { enabled: true, retentionDays: 731 } }),
        expect.objectContaining({ applyImmediately: true }),
      );
    } finally {
      refused.mockRestore();
    }
    const change = await changeEnds(tenant.id);
    expect([change.status, change.errorCode, change.errorMessage]).toEqual(['SUCCEEDED', null, null]);
    expect(await notes(await secret(names.appSecretName))).toEqual(['then']);
    const { DBInstances } = await aws.rds.send(
      new DescribeDBInstancesCommand({ DBInstanceIdentifier: names.instanceIdentifier }),
    );
    // The emulator answers with the retention period only, not PerformanceInsightsEnabled.
    expect(DBInstances?.[0]).toMatchObject({
      DeletionProtection: true,
      PerformanceInsightsRetentionPeriod: 731,
    });
  });

  it('refuses what it cannot restore, naming the rule, and records nothing', async () => {
    const tenant = await onboard('enterprise', 'careful');
    const pooled = await onboard('starter', 'small');
    const rule = (p: Promise<unknown>) =>
      p.then(
        () => 'not refused',
        (error: { detail?: { rule?: string } }) => error.detail?.rule,
      );
    expect(
      await rule(
        restores.requestRestore(
          tenant.id,
          { source: { pointInTime: '2001-01-01T00:00:00Z' }, mode: 'copy' },
          CTX,
        ),
      ),
    ).toBe('outside-restore-window');
    expect(
      await rule(
        restores.requestRestore(tenant.id, { source: { pointInTime: 'yesterday' }, mode: 'copy' }, CTX),
      ),
    ).toBe('point-in-time-invalid');
    expect(
      await rule(restores.requestRestore(pooled.id, { source: { snapshot: 'any' }, mode: 'copy' }, CTX)),
    ).toBe('restore-not-supported');
    const changes = await ds.getRepository(TenantChangeEntity).findBy({ tenantId: tenant.id });
    expect(changes).toEqual([]);
    expect(await restores.copies(tenant.id)).toEqual([]);
  });
});
