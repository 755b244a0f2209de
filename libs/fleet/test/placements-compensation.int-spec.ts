import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { resolve } from 'node:path';
import { Client } from 'pg';
import pino from 'pino';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../../apps/provisioning-worker/src/worker.module';
import { builtInTierProfilesFile } from '../../../test/support/built-in-tier-profiles';
import { eventually } from '../../../test/support/eventually';
import { removeTenantInstancesUnder } from '../../../test/support/local-tenant-instance';
import { fastLocalSagaEnvironment, testConfig, uniqueToken } from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { instanceAdminUrl } from '../../../test/support/test-services';
import { AwsClients, RdsInstances } from '../../aws/src';
import {
  HostEntity,
  ProvisioningStepEntity,
  TenantEntity,
  TenantEventEntity,
} from '../../control-plane-db/src';
import { hostResourceNames, tenantResourceNames } from '../../core/src';
import { HostRetirement, HostSweep, TenantOnboarding } from '../src';
import { heldHostInstances } from './held-rds';

jest.setTimeout(180_000);

const prefix = `pc${uniqueToken(3)}`;
const CTX = { actor: 'ops-test', correlationId: 'placements-compensation' };
const log = pino({ level: 'silent' });
// Its 0002 applies in a pool database (schema app) and is refused in a schema tenant's schema.
const MIGRATIONS = resolve(__dirname, '../../../test/fixtures/tenant-migrations/refused-in-tenant-schemas');
const { held, provider: heldRds } = heldHostInstances(prefix);

describe('compensation of schema and pool tenants that fail for good on their host', () => {
  let database: { name: string; url: string };
  let worker: INestApplicationContext;
  let ds: DataSource;
  let aws: AwsClients;
  let onboarding: TenantOnboarding;

  beforeAll(async () => {
    database = await createOwnDatabase('placements_comp');
    const config = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      SILO_TIER_PROFILES_FILE: builtInTierProfilesFile(),
      TENANT_MIGRATIONS_DIR: MIGRATIONS,
      ...fastLocalSagaEnvironment(),
      WORKER_CONCURRENCY: '3',
    });
    worker = await (
      await Test.createTestingModule({ imports: [WorkerModule.register(config)] })
        .overrideProvider(RdsInstances)
        .useFactory(heldRds)
        .compile()
    ).init();
    ds = worker.get(DataSource);
    aws = new AwsClients(config);
    onboarding = worker.get(TenantOnboarding);
  });

  afterAll(async () => {
    await worker?.close();
    aws?.onApplicationShutdown();
    await removeTenantInstancesUnder(prefix);
    if (database) await dropDatabase(database.name);
  });

  async function onboard(tier: 'starter' | 'pro', label: string): Promise<TenantEntity> {
    return (await onboarding.createTenant({ slug: `${label}-${uniqueToken(2)}`, name: label, tier }, CTX))
      .tenant;
  }

  const tenant = (id: string) => ds.getRepository(TenantEntity).findOneByOrFail({ id });
  const host = (name: string) => ds.getRepository(HostEntity).findOneByOrFail({ name });

  async function steps(tenantId: string): Promise<string[]> {
    const rows = await ds
      .getRepository(ProvisioningStepEntity)
      .find({ where: { tenantId, saga: 'provision' }, order: { position: 'ASC' } });
    return rows.map((s) => `${s.step}:${s.status}`);
  }

  /** Runs `work` on the host's database as its owner, with the credentials of its master secret. */
  async function asHostOwner<T>(hostName: string, work: (client: Client) => Promise<T>): Promise<T> {
    const { SecretString } = await aws.secretsManager.send(
      new GetSecretValueCommand({ SecretId: hostResourceNames(prefix, hostName).masterSecretName }),
    );
    const secret = JSON.parse(SecretString!) as Record<string, string | number>;
    const client = new Client({
      host: String(secret.host),
      port: Number(secret.port),
      database: String(secret.dbname),
      user: String(secret.username),
      password: String(secret.password),
    });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }

  /** Every tenant's notes in the pool, counted as a superuser (whom row-level security does not bind). */
  async function poolRows(hostName: string): Promise<Record<string, number>> {
    const server = new URL(instanceAdminUrl());
    server.pathname = `/${hostResourceNames(prefix, hostName).instanceIdentifier}`;
    const admin = new Client({ connectionString: server.toString() });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ tenant_id: string; n: number }>(
        `SELECT tenant_id, count(*)::int AS n FROM app.notes GROUP BY tenant_id`,
      );
      return Object.fromEntries(rows.map((r) => [r.tenant_id, r.n]));
    } finally {
      await admin.end();
    }
  }

  it('removes what each made (schema, roles and app secret; rows), keeps the hosts, says why, and lets the empty host go through the grace period and the sweep', async () => {
    // New hosts, held in creation: the tenants wait for them.
    held.creating = true;
    const pooled = await onboard('starter', 'pool-doomed');
    const neighbour = await onboard('starter', 'pool-stays');
    const bridged = await onboard('pro', 'schema-doomed');
    await eventually(async () => {
      for (const t of [pooled, neighbour, bridged])
        expect(await steps(t.id)).toEqual(['place:done', 'wait-host:waiting']);
    }, 30_000);
    expect((await ds.getRepository(HostEntity).find()).map((h) => h.name).sort()).toEqual([
      'pool-starter-001',
      'schema-pro-001',
    ]);

    // The pooled tenant's passes are held off (its lock taken, as another worker would hold it)
    // until its host is up and rows under its id are in the pool, then it runs past its deadline.
    const lock = new Client({ connectionString: database.url });
    await lock.connect();
    try {
      await lock.query(`SELECT pg_advisory_lock(hashtext($1))`, [`silo:tenant:${pooled.id}`]);
      held.creating = false;
      await eventually(async () => {
        expect((await host('pool-starter-001')).status).toBe('available');
        expect((await tenant(neighbour.id)).status).toBe('ACTIVE');
      }, 60_000);
      await asHostOwner('pool-starter-001', async (client) => {
        for (const [t, count] of [
          [pooled, 3],
          [neighbour, 2],
        ] as const) {
          await client.query('BEGIN');
          await client.query(`SELECT set_config('app.tenant_id', $1, true)`, [t.id]);
          for (let i = 0; i < count; i++)
            await client.query(`INSERT INTO app.notes (text) VALUES ($1)`, [`${t.slug} ${i}`]);
          await client.query('COMMIT');
        }
      });
      expect(await poolRows('pool-starter-001')).toEqual({ [pooled.id]: 3, [neighbour.id]: 2 });
      await ds.query(`UPDATE tenants SET saga_started_at = now() - interval '2 hours' WHERE id = $1`, [
        pooled.id,
      ]);
    } finally {
      await lock.end();
    }

    // The schema tenant: its schema, roles and app secret made, then its migration refused.
    const failedBridge = await eventually(async () => {
      const row = await tenant(bridged.id);
      expect(row.status).toBe('FAILED');
      return row;
    }, 60_000);
    expect(failedBridge).toMatchObject({
      failureStep: 'run-migrations',
      failureCode: 'DATABASE_REJECTED',
      failureMessage: expect.stringContaining('this migration is refused in schema'),
      hostId: null,
    });
    expect(await steps(bridged.id)).toEqual([
      'place:compensated',
      'wait-host:compensated',
      'bootstrap-database:compensated',
      'run-migrations:compensated',
    ]);
    const names = tenantResourceNames(prefix, bridged.slug);
    const leftOnHost = await asHostOwner('schema-pro-001', async (client) => ({
      schemas: (
        await client.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname = $1`, [
          names.tenantSchema,
        ])
      ).rows,
      ledgers: (
        await client.query(
          `SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                             WHERE n.nspname = 'silo_ledgers' AND c.relname = $1`,
          [names.tenantSchema],
        )
      ).rows,
      roles: (
        await client.query<{ rolname: string }>(`SELECT rolname FROM pg_roles WHERE rolname LIKE $1`, [
          `${names.appRole}%`,
        ])
      ).rows,
    }));
    expect(leftOnHost).toEqual({ schemas: [], ledgers: [], roles: [] });
    await expect(
      aws.secretsManager.send(new DescribeSecretCommand({ SecretId: names.appSecretName })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });

    // The pooled tenant: past its deadline, its rows deleted, its neighbour's untouched.
    const failedPool = await eventually(async () => {
      const row = await tenant(pooled.id);
      expect(row.status).toBe('FAILED');
      return row;
    }, 60_000);
    expect(failedPool).toMatchObject({
      failureStep: 'wait-host',
      failureCode: 'DEADLINE_EXCEEDED',
      failureMessage: expect.stringContaining('provisioning did not finish within'),
      hostId: null,
    });
    expect(await steps(pooled.id)).toEqual(['place:compensated', 'wait-host:compensated']);
    expect(await poolRows('pool-starter-001')).toEqual({ [neighbour.id]: 2 });
    expect((await tenant(neighbour.id)).status).toBe('ACTIVE');

    for (const t of [pooled, bridged]) {
      const failed = await ds
        .getRepository(TenantEventEntity)
        .findOneByOrFail({ tenantId: t.id, type: 'tenant.failed' });
      expect(failed.message).toMatch(/^provisioning failed at (wait-host|run-migrations): /);
    }

    // Both hosts stay; the schema host, now empty, counts its grace period from the compensation.
    const schemaHost = await host('schema-pro-001');
    expect(schemaHost).toMatchObject({ status: 'available', emptySince: expect.any(Date) });
    expect(await host('pool-starter-001')).toMatchObject({ status: 'available', emptySince: null });

    const sweep = new HostSweep(new HostRetirement(ds), { graceMs: 3_600_000 });
    expect((await sweep.sweep(log)).deleting).toEqual([]);
    const later = await sweep.sweep(log, new Date(schemaHost.emptySince!.getTime() + 3_600_001));
    expect(later.deleting).toEqual([schemaHost.id]);
    await eventually(async () => expect((await host('schema-pro-001')).status).toBe('deleted'), 60_000);
    expect((await host('pool-starter-001')).status).toBe('available');
  });
});
