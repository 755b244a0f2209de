import { Client } from 'pg';
import { DataSource, QueryFailedError } from 'typeorm';
import { uniqueToken } from '../../../test/support/test-config';
import { databaseUrl, testServices } from '../../../test/support/test-services';
import { quoteIdentifier } from '../../core/src';
import {
  controlPlaneDataSourceOptions,
  CONTROL_PLANE_MIGRATIONS,
  migrateControlPlane,
  TenantEntity,
  TenantEventEntity,
} from '../src';

const created: string[] = [];

function freshDatabaseUrl(): string {
  const name = `silo_schema_${uniqueToken()}`;
  created.push(name);
  return databaseUrl(testServices.postgresAdminUrl, name);
}

async function openDataSource(url: string): Promise<DataSource> {
  return new DataSource(
    controlPlaneDataSourceOptions({ url, poolMax: 4, connectTimeoutMs: 3000, applicationName: 'silo-test' }),
  ).initialize();
}

afterAll(async () => {
  const admin = new Client({ connectionString: testServices.postgresAdminUrl });
  await admin.connect();
  for (const name of created)
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`);
  await admin.end();
});

describe('control-plane migrations', () => {
  it('create the database, apply every migration once, then find nothing left to do', async () => {
    const url = freshDatabaseUrl();
    const first = await migrateControlPlane({ url, createDatabase: true });
    expect(first).toEqual({ createdDatabase: true, applied: CONTROL_PLANE_MIGRATIONS.map((m) => m.name) });
    const second = await migrateControlPlane({ url, createDatabase: true });
    expect(second).toEqual({ createdDatabase: false, applied: [] });
  });

  it('apply exactly once when several processes migrate at the same moment', async () => {
    const url = freshDatabaseUrl();
    const runs = await Promise.all(
      Array.from({ length: 4 }, () => migrateControlPlane({ url, createDatabase: true })),
    );
    expect(runs.filter((r) => r.createdDatabase)).toHaveLength(1);
    expect(runs.flatMap((r) => r.applied)).toEqual(CONTROL_PLANE_MIGRATIONS.map((m) => m.name));
  });

  it('leave no schema drift between the entities and the migrations', async () => {
    const url = freshDatabaseUrl();
    await migrateControlPlane({ url, createDatabase: true });
    const ds = await openDataSource(url);
    try {
      const pending = await ds.driver.createSchemaBuilder().log();
      expect(pending.upQueries.map((q) => q.query)).toEqual([]);
    } finally {
      await ds.destroy();
    }
  });

  it('revert cleanly to an empty database', async () => {
    const url = freshDatabaseUrl();
    await migrateControlPlane({ url, createDatabase: true });
    const ds = await openDataSource(url);
    try {
      for (let i = 0; i < CONTROL_PLANE_MIGRATIONS.length; i++) await ds.undoLastMigration();
      const tables = await ds.query(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'silo_migrations'`,
      );
      expect(tables).toEqual([]);
    } finally {
      await ds.destroy();
    }
  });
});

describe('control-plane schema', () => {
  let ds: DataSource;
  beforeAll(async () => {
    const url = freshDatabaseUrl();
    await migrateControlPlane({ url, createDatabase: true });
    ds = await openDataSource(url);
  });
  afterAll(() => ds?.destroy());

  async function newTenant(slug = `t-${uniqueToken()}`): Promise<TenantEntity> {
    return ds
      .getRepository(TenantEntity)
      .save({ slug, name: 'Acme', tier: 'pro', status: 'PENDING', createdBy: 'ops-1' });
  }

  function sqlState(error: unknown): string | undefined {
    return error instanceof QueryFailedError ? (error.driverError as { code?: string }).code : undefined;
  }

  it('round-trips a tenant through the entity with a generated id and version', async () => {
    const tenant = await newTenant('acme-rt');
    expect(tenant.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(tenant.version).toBe(1);
    tenant.status = 'PROVISIONING';
    const saved = await ds.getRepository(TenantEntity).save(tenant);
    expect(saved.version).toBe(2);
    const read = await ds.getRepository(TenantEntity).findOneByOrFail({ slug: 'acme-rt' });
    expect(read).toMatchObject({ status: 'PROVISIONING', tier: 'pro', dbInstanceIdentifier: null });
  });

  it('refuses a second tenant with a taken slug (unique_violation)', async () => {
    await newTenant('taken-slug');
    const error = await newTenant('taken-slug').catch((e: unknown) => e);
    expect(sqlState(error)).toBe('23505');
  });

  it.each([['Bad-Slug'], ['ab--cd'], ['x']])(
    'refuses slug %j in the database too (check_violation)',
    async (slug) => {
      const error = await newTenant(slug).catch((e: unknown) => e);
      expect(sqlState(error)).toBe('23514');
    },
  );

  it('refuses an unknown status (check_violation)', async () => {
    const tenant = await newTenant();
    const error = await ds
      .query(`UPDATE tenants SET status = 'LIMBO' WHERE id = $1`, [tenant.id])
      .catch((e: unknown) => e);
    expect(sqlState(error)).toBe('23514');
  });

  it('keeps tenant events append-only: UPDATE, DELETE and TRUNCATE are refused', async () => {
    const tenant = await newTenant();
    const events = ds.getRepository(TenantEventEntity);
    const event = await events.save({
      tenantId: tenant.id,
      type: 'tenant.created',
      message: 'created',
      actor: 'ops-1',
      data: { tier: 'pro' },
      correlationId: 'req-1',
    });
    for (const statement of [
      [`UPDATE tenant_events SET message = 'rewritten' WHERE id = $1`, [event.id]],
      [`DELETE FROM tenant_events WHERE id = $1`, [event.id]],
      [`TRUNCATE tenant_events`, []],
    ] as const) {
      const error = await ds.query(statement[0], [...statement[1]]).catch((e: unknown) => e);
      expect({ statement: statement[0], state: sqlState(error) }).toEqual({
        statement: statement[0],
        state: '23001',
      });
    }
    expect(await events.findOneByOrFail({ id: event.id })).toMatchObject({
      message: 'created',
      data: { tier: 'pro' },
    });
  });

  it('does not let a tenant with events be deleted (foreign key)', async () => {
    const tenant = await newTenant();
    await ds
      .getRepository(TenantEventEntity)
      .save({ tenantId: tenant.id, type: 'tenant.created', message: 'x', actor: 'a' });
    const error = await ds.query(`DELETE FROM tenants WHERE id = $1`, [tenant.id]).catch((e: unknown) => e);
    expect(sqlState(error)).toBe('23503');
  });
});
