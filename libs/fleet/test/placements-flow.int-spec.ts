import { GetObjectCommand } from '@aws-sdk/client-s3';
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../../apps/provisioning-worker/src/worker.module';
import { builtInTierProfilesFile } from '../../../test/support/built-in-tier-profiles';
import { removeTenantInstancesUnder } from '../../../test/support/local-tenant-instance';
import {
  availableHost as sharedHost,
  LOCAL_SERVER as SERVER,
} from '../../../test/support/shared-host-fixture';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { fastLocalSagaEnvironment, testConfig, uniqueToken } from '../../../test/support/test-config';
import { instanceAdminUrl } from '../../../test/support/test-services';
import { AwsClients } from '../../aws/src';
import { ProvisioningStepEntity, TenantEntity } from '../../control-plane-db/src';
import { hostName, hostResourceNames, tenantResourceNames, type SharedPlacement } from '../../core/src';
import { TenantOnboarding } from '../src';

jest.setTimeout(180_000);

const prefix = `pl${uniqueToken(3)}`;
const CTX = { actor: 'ops-test', correlationId: 'placements-1' };
const server = new URL(instanceAdminUrl());

describe('schema and pool tenants on shared hosts, against moto, PostgreSQL and Redis', () => {
  let database: { name: string; url: string };
  let app: INestApplicationContext;
  let aws: AwsClients;
  let ds: DataSource;
  let onboarding: TenantOnboarding;
  const hostOwners = new Map<string, { user: string; password: string; database: string }>();

  beforeAll(async () => {
    // A database of its own: hosts of other files' tests would otherwise take these tenants.
    database = await createOwnDatabase('placements');
    const config = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      SILO_TIER_PROFILES_FILE: builtInTierProfilesFile({
        starter: { tenantsPerHost: 2, connectionBudget: 100 },
        pro: { tenantsPerHost: 2, connectionBudget: 100 },
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
    // Two available hosts of each shared placement, made as the host saga makes them: a master
    // secret, a database with its owner on the local backend, a pool database migrated once.
    for (const [placement, tier] of [
      ['pool', 'starter'],
      ['schema', 'pro'],
    ] as const) {
      for (const ordinal of [1, 2]) await availableHost(placement, tier, ordinal);
    }
  });

  afterAll(async () => {
    await app?.close();
    aws?.onApplicationShutdown();
    await removeTenantInstancesUnder(prefix);
    if (database) await dropDatabase(database.name);
  });

  async function availableHost(placement: SharedPlacement, tier: string, ordinal: number): Promise<void> {
    const { name, owner } = await sharedHost({
      dataSource: ds,
      aws,
      prefix,
      placement,
      tier,
      ordinal,
      capacity: 2,
    });
    hostOwners.set(name, { user: owner.user, password: owner.password, database: owner.database });
  }

  async function until(id: string, status: string, timeoutMs = 90_000): Promise<TenantEntity> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const row = await ds.getRepository(TenantEntity).findOneByOrFail({ id });
      if (row.status === status) return row;
      if (row.status === 'FAILED' && status !== 'FAILED')
        throw new Error(`tenant failed: ${row.failureStep} ${row.failureCode} ${row.failureMessage}`);
      if (Date.now() > deadline) throw new Error(`tenant still ${row.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function onboard(tier: 'starter' | 'pro', label: string): Promise<TenantEntity> {
    const { tenant } = await onboarding.createTenant(
      { slug: `${label}-${uniqueToken(2)}`, name: label, tier },
      CTX,
    );
    return tenant;
  }

  async function hostOf(tenant: TenantEntity): Promise<{ id: string; name: string }> {
    const [host] = await ds.query<Array<{ id: string; name: string }>>(
      `SELECT h.id, h.name FROM hosts h JOIN tenants t ON t.host_id = h.id WHERE t.id = $1`,
      [tenant.id],
    );
    if (!host) throw new Error(`${tenant.slug} has no host`);
    return host;
  }

  async function appSecret(slug: string): Promise<Record<string, unknown>> {
    const { SecretString } = await aws.secretsManager.send(
      new GetSecretValueCommand({ SecretId: tenantResourceNames(prefix, slug).appSecretName }),
    );
    return JSON.parse(SecretString!) as Record<string, unknown>;
  }

  async function connect(secret: Record<string, unknown>): Promise<Client> {
    const client = new Client({
      host: secret.host as string,
      port: secret.port as number,
      database: secret.dbname as string,
      user: secret.username as string,
      password: secret.password as string,
    });
    await client.connect();
    return client;
  }

  async function asHostOwner<T>(host: string, work: (client: Client) => Promise<T>): Promise<T> {
    const owner = hostOwners.get(host)!;
    const client = new Client({ ...SERVER, ...owner });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }

  /**
   * Orders `tenants` so that the two sharing a host come first (placements run concurrently, so
   * which two is not known in advance) and returns the names of the hosts in that order.
   */
  async function sharingAHost(tenants: TenantEntity[]): Promise<string[]> {
    const byTenant = new Map<string, string>();
    for (const tenant of tenants) byTenant.set(tenant.id, (await hostOf(tenant)).name);
    const names = [...byTenant.values()];
    const shared = names.find((n) => names.filter((m) => m === n).length === 2);
    if (!shared) throw new Error(`no host holds two of the tenants: ${names.join(', ')}`);
    tenants.sort((x, y) => Number(byTenant.get(y.id) === shared) - Number(byTenant.get(x.id) === shared));
    return [...new Set(tenants.map((t) => byTenant.get(t.id)!))];
  }

  const schemaTenants: TenantEntity[] = [];
  const poolTenants: TenantEntity[] = [];

  it('takes schema tenants to ACTIVE, each with its own login that reads its own notes and nothing of another schema tenant', async () => {
    for (const label of ['bridge-a', 'bridge-b', 'bridge-c']) schemaTenants.push(await onboard('pro', label));
    const rows = [];
    for (const tenant of schemaTenants) rows.push(await until(tenant.id, 'ACTIVE'));
    for (const row of rows) {
      expect(row).toMatchObject({ placement: 'schema', dbInstanceIdentifier: null, schemaVersion: '0002' });
    }
    // Two per host: whichever is placed third is on the second host.
    const hosts = await sharingAHost(schemaTenants);
    expect(hosts).toEqual([hostName('schema', 'pro', 1), hostName('schema', 'pro', 2)]);
    const steps = await ds
      .getRepository(ProvisioningStepEntity)
      .find({ where: { tenantId: schemaTenants[0].id } });
    expect(steps.sort((a, b) => a.position - b.position).map((s) => [s.step, s.status])).toEqual([
      ['place', 'done'],
      ['wait-host', 'done'],
      ['bootstrap-database', 'done'],
      ['run-migrations', 'done'],
      ['activate', 'done'],
    ]);

    const [a, b] = schemaTenants;
    const hostNames = hostResourceNames(prefix, hosts[0]);
    const secretA = await appSecret(a.slug);
    const namesA = tenantResourceNames(prefix, a.slug);
    expect(secretA).toEqual({
      engine: 'postgres',
      host: SERVER.host,
      port: SERVER.port,
      dbname: hostNames.instanceIdentifier,
      dbInstanceIdentifier: hostNames.instanceIdentifier,
      username: `${namesA.appRole}_a`,
      password: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/),
    });
    // No instance, master secret or alarms of its own.
    await expect(
      aws.secretsManager.send(new DescribeSecretCommand({ SecretId: namesA.masterSecretName })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });

    const asA = await connect(secretA);
    const asB = await connect(await appSecret(b.slug));
    try {
      // Unqualified names reach the tenant's own schema (its role's search_path).
      await asA.query(`INSERT INTO notes (text) VALUES ('a1')`);
      await asB.query(`INSERT INTO notes (text) VALUES ('b1')`);
      const { rows: mine } = await asA.query<{ text: string; tenant_id: string }>(
        `SELECT text, tenant_id FROM notes`,
      );
      expect(mine).toEqual([{ text: 'a1', tenant_id: a.id }]);
      const schemaB = tenantResourceNames(prefix, b.slug).tenantSchema;
      await expect(asA.query(`SELECT * FROM "${schemaB}".notes`)).rejects.toMatchObject({ code: '42501' });
      for (const forbidden of ['CREATE TABLE sneaky (id int)', 'CREATE SCHEMA sneaky', 'DROP TABLE notes']) {
        await expect(asA.query(forbidden)).rejects.toMatchObject({ code: '42501' });
      }
    } finally {
      await asA.end();
      await asB.end();
    }
    // Each login may hold an even share of the host's connection budget (100 for 2 tenants), so
    // that a full host stays within it and no tenant takes another's share.
    const { rows: limits } = await asHostOwner(hosts[0], (c) =>
      c.query<{ rolname: string; rolconnlimit: number }>(
        `SELECT rolname, rolconnlimit FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname`,
        [[namesA.appRole, `${namesA.appRole}_a`]],
      ),
    );
    expect(limits).toEqual([
      { rolname: namesA.appRole, rolconnlimit: 50 },
      { rolname: `${namesA.appRole}_a`, rolconnlimit: 50 },
    ]);
  });

  it('takes pool tenants to ACTIVE on a shared pool database at the pool’s schema version, with no secret or role of their own', async () => {
    for (const label of ['pooled-a', 'pooled-b', 'pooled-c'])
      poolTenants.push(await onboard('starter', label));
    for (const tenant of poolTenants) {
      expect(await until(tenant.id, 'ACTIVE')).toMatchObject({
        placement: 'pool',
        schemaVersion: '0002',
        appSecretArn: null,
        dbInstanceIdentifier: null,
      });
    }
    expect(await sharingAHost(poolTenants)).toEqual([
      hostName('pool', 'starter', 1),
      hostName('pool', 'starter', 2),
    ]);
    await expect(
      aws.secretsManager.send(
        new DescribeSecretCommand({
          SecretId: tenantResourceNames(prefix, poolTenants[0].slug).appSecretName,
        }),
      ),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    const steps = await ds
      .getRepository(ProvisioningStepEntity)
      .find({ where: { tenantId: poolTenants[0].id } });
    expect(steps.map((s) => s.step).sort()).toEqual(['activate', 'place', 'wait-host']);
  });

  it('suspends and resumes schema and pool tenants, which keep their place on their host', async () => {
    for (const tenant of [schemaTenants[2], poolTenants[2]]) {
      const host = await hostOf(tenant);
      expect(await onboarding.suspend(tenant.id, CTX)).toMatchObject({
        status: 'SUSPENDED',
        hostId: host.id,
      });
      expect(await onboarding.resume(tenant.id, CTX)).toMatchObject({ status: 'ACTIVE', hostId: host.id });
    }
  });

  it('deletes a pool tenant: its rows exported to S3 and deleted, the other tenant of the host untouched, its place released', async () => {
    const [a, b] = poolTenants;
    const host = await hostOf(a);
    // Rows of both tenants in the one pool table, written as the router writes them.
    await asHostOwner(host.name, async (client) => {
      for (const [tenant, count] of [
        [a, 3],
        [b, 2],
      ] as const) {
        await client.query('BEGIN');
        await client.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenant.id]);
        for (let i = 0; i < count; i++)
          await client.query(`INSERT INTO app.notes (text) VALUES ($1)`, [`${tenant.slug} ${i}`]);
        await client.query('COMMIT');
      }
    });

    await onboarding.requestDeletion(a.id, CTX);
    await until(a.id, 'DELETED');

    // As a superuser, whom row-level security does not bind: every tenant's rows.
    const admin = new Client({
      ...SERVER,
      user: server.username,
      password: decodeURIComponent(server.password),
      database: hostOwners.get(host.name)!.database,
    });
    await admin.connect();
    const { rows: perTenant } = await admin
      .query<{ tenant_id: string; n: number }>(
        `SELECT tenant_id, count(*)::int AS n FROM app.notes GROUP BY tenant_id`,
      )
      .finally(() => admin.end());
    const counts = Object.fromEntries(perTenant.map((r) => [r.tenant_id, r.n]));
    expect(counts).toEqual({ [b.id]: 2 });
    expect(await until(b.id, 'ACTIVE')).toBeDefined();

    const exported = await ds.query<Array<{ data: { key: string; bucket: string } }>>(
      `SELECT data FROM tenant_events WHERE tenant_id = $1 AND type = 'step.completed' AND data->>'step' = 'export-rows'`,
      [a.id],
    );
    expect(exported[0].data.key).toMatch(new RegExp(`^${prefix}/exports/${a.slug}/\\d{8}-\\d{6}\\.ndjson$`));
    const object = await aws.s3.send(
      new GetObjectCommand({ Bucket: exported[0].data.bucket, Key: exported[0].data.key }),
    );
    const lines = (await object.Body!.transformToString())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as object);
    expect(lines[0]).toMatchObject({ tenantId: a.id });
    expect(lines.at(-1)).toEqual({ end: true, rows: { notes: 3 } });

    // DELETED no longer counts: a new pooled tenant takes the freed place on the same host.
    const [{ placed }] = await ds.query<Array<{ placed: number }>>(
      `SELECT count(*)::int AS placed FROM tenants WHERE host_id = $1 AND status <> 'DELETED'`,
      [host.id],
    );
    expect(placed).toBe(1);
  });

  it('deletes a schema tenant: its schema dumped to S3, then its schema, roles and app secret gone, the host’s other tenant untouched', async () => {
    const [a, b] = schemaTenants;
    const host = await hostOf(a);
    const names = tenantResourceNames(prefix, a.slug);
    await onboarding.requestDeletion(a.id, CTX);
    await until(a.id, 'DELETED');

    const left = await asHostOwner(host.name, async (client) => {
      const schemas = await client.query<{ nspname: string }>(
        `SELECT nspname FROM pg_namespace WHERE nspname = ANY($1)`,
        [[names.tenantSchema, tenantResourceNames(prefix, b.slug).tenantSchema]],
      );
      const roles = await client.query<{ rolname: string }>(
        `SELECT rolname FROM pg_roles WHERE rolname LIKE $1`,
        [`${names.appRole}%`],
      );
      return { schemas: schemas.rows.map((r) => r.nspname), roles: roles.rows.map((r) => r.rolname) };
    });
    expect(left).toEqual({ schemas: [tenantResourceNames(prefix, b.slug).tenantSchema], roles: [] });
    const secret = await aws.secretsManager.send(
      new DescribeSecretCommand({ SecretId: names.appSecretName }),
    );
    expect(secret.DeletedDate).toBeInstanceOf(Date);

    const asB = await connect(await appSecret(b.slug));
    try {
      const { rows } = await asB.query<{ text: string }>(`SELECT text FROM notes`);
      expect(rows).toEqual([{ text: 'b1' }]);
    } finally {
      await asB.end();
    }
    const [exported] = await ds.query<Array<{ data: { key: string; bytes: number } }>>(
      `SELECT data FROM tenant_events WHERE tenant_id = $1 AND type = 'step.completed' AND data->>'step' = 'export-schema'`,
      [a.id],
    );
    expect(exported.data.key).toMatch(new RegExp(`^${prefix}/exports/${a.slug}/\\d{8}-\\d{6}\\.dump$`));
    expect(exported.data.bytes).toBeGreaterThan(0);
  });

  it('compensates a schema tenant that fails on its host: its schema, roles and app secret removed, its place released', async () => {
    // A host whose master secret no longer opens its database: bootstrap fails for good.
    const name = hostName('schema', 'pro', 3);
    await availableHost('schema', 'pro', 3);
    await ds.query(`UPDATE hosts SET capacity_tenants = 1 WHERE name = ANY($1)`, [
      [hostName('schema', 'pro', 1), hostName('schema', 'pro', 2)],
    ]);
    const admin = new Client({ connectionString: instanceAdminUrl() });
    await admin.connect();
    await admin.query(`ALTER ROLE "${hostResourceNames(prefix, name).masterUsername}" NOCREATEROLE`);
    await admin.end();
    const tenant = await onboard('pro', 'doomed');
    const failed = await until(tenant.id, 'FAILED');
    expect(failed).toMatchObject({ failureStep: 'bootstrap-database', hostId: null });
    const names = tenantResourceNames(prefix, tenant.slug);
    await expect(
      aws.secretsManager.send(new DescribeSecretCommand({ SecretId: names.appSecretName })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    const schemas = await asHostOwner(name, (client) =>
      client.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [names.tenantSchema]),
    );
    expect(schemas.rowCount).toBe(0);
    const [host] = await ds.query<Array<{ empty_since: Date | null }>>(
      `SELECT empty_since FROM hosts WHERE name = $1`,
      [name],
    );
    expect(host.empty_since).toBeInstanceOf(Date);
  });
});
