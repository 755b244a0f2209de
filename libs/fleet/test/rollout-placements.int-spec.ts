import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { join, resolve } from 'node:path';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../../apps/provisioning-worker/src/worker.module';
import { builtInTierProfilesFile } from '../../../test/support/built-in-tier-profiles';
import { eventually } from '../../../test/support/eventually';
import { removeTenantInstancesUnder } from '../../../test/support/local-tenant-instance';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { fastLocalSagaEnvironment, testConfig, uniqueToken } from '../../../test/support/test-config';
import { AwsClients } from '../../aws/src';
import { controlPlaneDataSourceOptions, TenantEntity, TenantEventEntity } from '../../control-plane-db/src';
import { tenantResourceNames } from '../../core/src';
import { readTenantLedger } from '../../tenant-schema/src';
import { withAdmin } from '../../tenant-schema/test/tenant-db-fixtures';
import {
  ProvisioningSettings,
  RECONCILE_JOB,
  SchemaRollouts,
  TenantOnboarding,
  type RolloutDetail,
} from '../src';
import { writeOutboxJob } from '../src/jobs/outbox';
import {
  availableHost,
  LOCAL_SERVER,
  LOCAL_SUPERUSER,
  type AvailableHost,
} from '../../../test/support/shared-host-fixture';

jest.setTimeout(300_000);

const MIGRATIONS = resolve(__dirname, '../../../test/fixtures/tenant-migrations');
const prefix = `rp${uniqueToken(3)}`;
const CTX = { actor: 'ops-test', correlationId: 'rollout-placements-1' };

/** A worker process's Nest application on `config`. */
async function workerOn(config: ReturnType<typeof testConfig>): Promise<INestApplicationContext> {
  return (await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()).init();
}

/**
 * A mixed fleet (five pooled tenants on two pool hosts, two schema tenants on one host, one
 * instance tenant) onboarded at the built-in schema, then rolled out to newer migrations: a
 * rollout's unit of work is the migration target, so a pool database migrates once for all its
 * tenants, counts once in the waves and against the failure threshold, and is skipped as one.
 */
describe('schema rollouts across placements, against moto, PostgreSQL and Redis', () => {
  let database: { name: string; url: string };
  let aws: AwsClients;
  let app: INestApplicationContext | undefined;
  let ds: DataSource;
  const tierFile = builtInTierProfilesFile({
    starter: { tenantsPerHost: 3, connectionBudget: 100 },
    pro: { tenantsPerHost: 2, connectionBudget: 100 },
  });
  const pools: AvailableHost[] = [];
  let schemaHost: AvailableHost;
  const tenants: Record<'starter' | 'pro' | 'enterprise', TenantEntity[]> = {
    starter: [],
    pro: [],
    enterprise: [],
  };

  /** The worker with `migrationsDir`'s migrations (the built-in ones when omitted). */
  async function startWorker(migrationsDir?: string): Promise<INestApplicationContext> {
    await app?.close();
    const config = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      SILO_TIER_PROFILES_FILE: tierFile,
      ...(migrationsDir ? { TENANT_MIGRATIONS_DIR: join(MIGRATIONS, migrationsDir) } : {}),
      ...fastLocalSagaEnvironment(),
      WORKER_CONCURRENCY: '4',
    });
    app = await workerOn(config);
    ds = app.get(DataSource);
    return app;
  }

  beforeAll(async () => {
    database = await createOwnDatabase('rollout-placements');
    await startWorker();
    aws = new AwsClients(testConfig({ DATABASE_URL: database.url, SILO_RESOURCE_PREFIX: prefix }));
    for (const ordinal of [1, 2]) {
      pools.push(
        await availableHost({
          dataSource: ds,
          aws,
          prefix,
          placement: 'pool',
          tier: 'starter',
          ordinal,
          capacity: 3,
        }),
      );
    }
    schemaHost = await availableHost({
      dataSource: ds,
      aws,
      prefix,
      placement: 'schema',
      tier: 'pro',
      ordinal: 1,
      capacity: 2,
    });
    const onboarding = app!.get(TenantOnboarding);
    // One after the other, so that the pooled tenants fill the first pool host first.
    for (const [tier, count] of [
      ['starter', 5],
      ['pro', 2],
      ['enterprise', 1],
    ] as const) {
      for (let i = 0; i < count; i++) {
        const { tenant } = await onboarding.createTenant(
          { slug: `${tier.slice(0, 3)}${i}-${uniqueToken(2)}`, name: `${tier} ${i}`, tier },
          CTX,
        );
        tenants[tier].push(await active(tenant.id));
      }
    }
    expect(tenants.starter.map((t) => t.hostId)).toEqual([
      pools[0].id,
      pools[0].id,
      pools[0].id,
      pools[1].id,
      pools[1].id,
    ]);
    expect(tenants.pro.map((t) => t.hostId)).toEqual([schemaHost.id, schemaHost.id]);
    for (const t of Object.values(tenants).flat()) expect(t.schemaVersion).toBe('0002');
  });

  afterAll(async () => {
    await app?.close();
    aws?.onApplicationShutdown();
    await removeTenantInstancesUnder(prefix);
    if (database) await dropDatabase(database.name);
  });

  async function active(id: string): Promise<TenantEntity> {
    return eventually(
      async () => {
        const row = await ds.getRepository(TenantEntity).findOneByOrFail({ id });
        if (row.status === 'FAILED')
          throw new Error(`tenant failed: ${row.failureStep} ${row.failureMessage}`);
        expect(row.status).toBe('ACTIVE');
        return row;
      },
      120_000,
      100,
    );
  }

  async function settled(rollouts: SchemaRollouts, id: string, status: string): Promise<RolloutDetail> {
    return eventually(
      async () => {
        const detail = await rollouts.get(id);
        expect(detail.rollout.status).toBe(status);
        expect(detail.counts.running).toBe(0);
        return detail;
      },
      120_000,
      100,
    );
  }

  async function versionOf(id: string): Promise<string | null> {
    return (await ds.getRepository(TenantEntity).findOneByOrFail({ id })).schemaVersion;
  }

  /** Versions in a target's ledger, read as the server's superuser. */
  async function ledgerVersions(
    databaseName: string,
    into: Parameters<typeof readTenantLedger>[1],
  ): Promise<{ version: string; appliedBy: string }[]> {
    const entries = await readTenantLedger(
      { ...LOCAL_SERVER, ...LOCAL_SUPERUSER, database: databaseName },
      into,
    );
    return entries.map(({ version, appliedBy }) => ({ version, appliedBy }));
  }

  const instanceDatabase = (t: TenantEntity) => tenantResourceNames(prefix, t.slug).instanceIdentifier;
  const schemaOf = (t: TenantEntity) => tenantResourceNames(prefix, t.slug).tenantSchema;

  it('moves the whole mixed fleet to a new version: each pool database once, waves and concurrency counting targets', async () => {
    const rollouts = (await startWorker('after-built-in')).get(SchemaRollouts);
    const started = await rollouts.start(
      { canary: 1, waves: [50, 100], maxConcurrency: 2, failureThreshold: 1, pauseBetweenWaves: false },
      CTX,
    );
    // Five targets for eight tenants: the oldest pool first as the canary, then half of the
    // other four targets (the second pool and the first schema tenant), then the rest.
    expect(started.rollout.plan).toEqual([
      { index: 0, kind: 'canary', percent: null, size: 3, targets: 1 },
      { index: 1, kind: 'wave', percent: 50, size: 3, targets: 2 },
      { index: 2, kind: 'wave', percent: 100, size: 2, targets: 2 },
    ]);
    expect(started.events[0].message).toMatch(/8 tenant\(s\) \(5 migration target\(s\)\) in 3 wave\(s\)/);
    const done = await settled(rollouts, started.rollout.id, 'SUCCEEDED');
    expect(done.counts).toMatchObject({ succeeded: 8, failed: 0, skipped: 0 });
    // One dispatch each: no pooled tenant ran its pool's migration again.
    expect(done.tenants.map((t) => t.attempt)).toEqual(Array(8).fill(1));
    expect(done.tenants.filter((t) => t.poolHostId).map((t) => [t.tenantId, t.poolHostId])).toEqual(
      tenants.starter.map((t) => [t.id, t.hostId]),
    );

    // A pool's tenants were dispatched together and recorded in one transaction (one now()).
    for (const pool of pools) {
      const rows = done.tenants.filter((t) => t.poolHostId === pool.id);
      expect(new Set(rows.map((t) => t.startedAt?.getTime())).size).toBe(1);
      expect(new Set(rows.map((t) => t.finishedAt?.getTime())).size).toBe(1);
    }

    for (const t of Object.values(tenants).flat()) expect(await versionOf(t.id)).toBe('0003');
    const hostVersions = await ds.query<{ id: string; schema_version: string }[]>(
      `SELECT id, schema_version FROM hosts WHERE placement = 'pool' ORDER BY ordinal`,
    );
    expect(hostVersions).toEqual(pools.map((p) => ({ id: p.id, schema_version: '0003' })));

    const byRollout = `rollout:${started.rollout.id}`;
    for (const pool of pools) {
      const ledger = await ledgerVersions(pool.owner.database, { placement: 'pool', schema: 'app' });
      expect(ledger.filter((e) => e.version === '0003')).toEqual([{ version: '0003', appliedBy: byRollout }]);
    }
    for (const t of tenants.pro) {
      const ledger = await ledgerVersions(schemaHost.owner.database, {
        placement: 'schema',
        schema: schemaOf(t),
        tenantId: t.id,
      });
      expect(ledger.at(-1)).toEqual({ version: '0003', appliedBy: byRollout });
    }
    const [enterprise] = tenants.enterprise;
    expect((await ledgerVersions(instanceDatabase(enterprise), undefined)).at(-1)).toEqual({
      version: '0003',
      appliedBy: byRollout,
    });
    // The column is there in every placement.
    const hasDueDate = (db: string, schema: string) =>
      withAdmin(
        async (c) =>
          (
            await c.query(
              `SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'notes' AND column_name = 'due_date'`,
              [schema],
            )
          ).rowCount,
        db,
      );
    expect(await hasDueDate(pools[0].owner.database, 'app')).toBe(1);
    expect(await hasDueDate(schemaHost.owner.database, schemaOf(tenants.pro[0]))).toBe(1);
    expect(await hasDueDate(instanceDatabase(enterprise), 'app')).toBe(1);

    // Every pooled tenant says it was migrated, by which rollout.
    for (const t of tenants.starter) {
      const events = await ds
        .getRepository(TenantEventEntity)
        .findBy({ tenantId: t.id, type: 'schema.migrated' });
      expect(events.map((e) => e.data)).toEqual([
        expect.objectContaining({ rolloutId: started.rollout.id, from: '0002', to: '0003' }),
      ]);
    }
    const versions = await rollouts.schemaVersions();
    expect(versions).toMatchObject({
      newest: '0003',
      versions: [{ version: '0003', tenants: 8 }],
      behind: [],
    });
  });

  it('fails a pool as one target: its tenants fail together, count once against the threshold and are skipped together', async () => {
    const rollouts = (await startWorker('pool-unsafe')).get(SchemaRollouts);
    const started = await rollouts.start(
      { canary: 1, waves: [100], maxConcurrency: 1, failureThreshold: 1, pauseBetweenWaves: false },
      CTX,
    );
    const id = started.rollout.id;
    let paused = await settled(rollouts, id, 'PAUSED');
    // The canary is the first pool: all three of its tenants failed with it, one target.
    expect(paused.counts).toMatchObject({ failed: 3, succeeded: 0 });
    expect(paused.rollout.pausedReason).toMatch(/^1 migration target\(s\) failed \(3 tenants/);
    const failed = paused.tenants.filter((t) => t.state === 'failed');
    expect(failed.map((t) => t.tenantId).sort()).toEqual(
      tenants.starter
        .slice(0, 3)
        .map((t) => t.id)
        .sort(),
    );
    for (const t of failed) {
      expect(t).toMatchObject({ failedMigration: expect.stringContaining('0004'), reachedVersion: '0003' });
      expect(t.errorMessage).toMatch(/tags/);
    }

    // Skipping one of them skips its pool: the three together.
    paused = await rollouts.skip(id, tenants.starter[0].slug, 'pool repaired by hand later', CTX);
    expect(paused.counts).toMatchObject({ failed: 0, skipped: 3 });
    expect(paused.events.at(-1)?.message).toMatch(/with the 2 other tenant\(s\) of its pool/);

    // The second pool fails the same way on resume; skipped too, the rest of the fleet migrates.
    await rollouts.resume(id, CTX);
    paused = await settled(rollouts, id, 'PAUSED');
    expect(paused.counts).toMatchObject({ failed: 2, skipped: 3 });
    await rollouts.skip(id, tenants.starter[4].id, 'pool repaired by hand later', CTX);
    await rollouts.resume(id, CTX);
    const done = await settled(rollouts, id, 'SUCCEEDED');
    expect(done.counts).toMatchObject({ succeeded: 3, skipped: 5, failed: 0 });

    for (const t of tenants.starter) expect(await versionOf(t.id)).toBe('0003');
    for (const t of [...tenants.pro, ...tenants.enterprise]) expect(await versionOf(t.id)).toBe('0004');
    for (const pool of pools) {
      const ledger = await ledgerVersions(pool.owner.database, { placement: 'pool', schema: 'app' });
      expect(ledger.map((e) => e.version)).not.toContain('0004');
      // The failed migration left nothing behind in the pool database.
      expect(
        await withAdmin(
          async (c) => (await c.query(`SELECT to_regclass('app.tags') AS t`)).rows[0].t,
          pool.owner.database,
        ),
      ).toBeNull();
    }
  });
});

/**
 * Redis loses a rollout's jobs (flushed, or relayed and gone): the reconciler finds each
 * target's job missing and dispatches the target again, a pool host's tenants as one.
 */
describe('a rollout whose pool and schema jobs were lost, re-driven by the reconciler', () => {
  let database: { name: string; url: string };
  let aws: AwsClients;
  let app: INestApplicationContext | undefined;
  let ds: DataSource;
  const tierFile = builtInTierProfilesFile({
    starter: { tenantsPerHost: 3, connectionBudget: 100 },
    pro: { tenantsPerHost: 2, connectionBudget: 100 },
  });
  const made: TenantEntity[] = [];

  function environment(migrationsDir?: string): Record<string, string> {
    return {
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: `${prefix}l`,
      SILO_TIER_PROFILES_FILE: tierFile,
      ...(migrationsDir ? { TENANT_MIGRATIONS_DIR: join(MIGRATIONS, migrationsDir) } : {}),
      ...fastLocalSagaEnvironment(),
      RECONCILE_STUCK_GRACE_SECONDS: '1',
    };
  }

  async function startWorker(migrationsDir?: string): Promise<INestApplicationContext> {
    await app?.close();
    const config = testConfig(environment(migrationsDir));
    app = await workerOn(config);
    ds = app.get(DataSource);
    return app;
  }

  beforeAll(async () => {
    database = await createOwnDatabase('rollout-placements-lost');
    await startWorker();
    aws = new AwsClients(testConfig(environment()));
    const common = { dataSource: ds, aws, prefix: `${prefix}l`, ordinal: 1 };
    await availableHost({ ...common, placement: 'pool', tier: 'starter', capacity: 3 });
    await availableHost({ ...common, placement: 'schema', tier: 'pro', capacity: 2 });
    const onboarding = app!.get(TenantOnboarding);
    for (const tier of ['starter', 'starter', 'pro'] as const) {
      const { tenant } = await onboarding.createTenant(
        { slug: `${tier.slice(0, 3)}-${uniqueToken(3)}`, name: tier, tier },
        CTX,
      );
      made.push(
        await eventually(
          async () => {
            const row = await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id });
            expect(row.status).toBe('ACTIVE');
            return row;
          },
          120_000,
          100,
        ),
      );
    }
  });

  afterAll(async () => {
    await app?.close();
    aws?.onApplicationShutdown();
    await removeTenantInstancesUnder(`${prefix}l`);
    if (database) await dropDatabase(database.name);
  });

  it('dispatches the lost pool target again as one, and the rollout ends with every tenant at the target', async () => {
    await app?.close();
    app = undefined;
    // No worker runs: the rollout's first jobs go to the outbox, and are lost before any relay.
    const controlPlane = await new DataSource(
      controlPlaneDataSourceOptions({
        url: database.url,
        poolMax: 2,
        connectTimeoutMs: 3000,
        applicationName: 'silo-test',
      }),
    ).initialize();
    let rolloutId: string;
    try {
      const rollouts = new SchemaRollouts(
        controlPlane,
        new ProvisioningSettings(testConfig(environment('after-built-in'))),
      );
      const { rollout, tenants } = await rollouts.start(
        { canary: 0, waves: [100], maxConcurrency: 4, failureThreshold: 1, pauseBetweenWaves: false },
        CTX,
      );
      rolloutId = rollout.id;
      expect(tenants.map((t) => t.state)).toEqual(['running', 'running', 'running']);
      const lost = await controlPlane.query<{ job_name: string }[]>(
        `SELECT job_name FROM outbox WHERE job_name LIKE 'migrate-%'`,
      );
      expect(lost.map((j) => j.job_name).sort()).toEqual(['migrate-pool', 'migrate-tenant']);
      await controlPlane.query(`DELETE FROM outbox WHERE job_name LIKE 'migrate-%'`);
      await new Promise((r) => setTimeout(r, 1100));
      await writeOutboxJob(controlPlane.manager, {
        name: RECONCILE_JOB,
        id: `reconcile-${uniqueToken(4)}`,
        payload: { triggeredBy: 'ops-test' },
      });
    } finally {
      await controlPlane.destroy();
    }

    const rollouts = (await startWorker('after-built-in')).get(SchemaRollouts);
    const done = await eventually(
      async () => {
        const detail = await rollouts.get(rolloutId);
        expect(detail.rollout.status).toBe('SUCCEEDED');
        return detail;
      },
      120_000,
      100,
    );
    // Each target dispatched a second time, the pool's two tenants with one job.
    expect(done.tenants.map((t) => t.attempt)).toEqual([2, 2, 2]);
    expect(done.events.map((e) => e.type)).toContain('rollout.redriven');
    for (const t of made) {
      expect((await ds.getRepository(TenantEntity).findOneByOrFail({ id: t.id })).schemaVersion).toBe('0003');
    }
  });
});
