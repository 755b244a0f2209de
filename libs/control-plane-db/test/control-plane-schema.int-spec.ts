import { Client } from 'pg';
import { DataSource, QueryFailedError } from 'typeorm';
import { uniqueToken } from '../../../test/support/test-config';
import { databaseUrl, testServices } from '../../../test/support/test-services';
import { quoteIdentifier } from '../../core/src';
import {
  controlPlaneDataSourceOptions,
  CONTROL_PLANE_MIGRATIONS,
  HostEntity,
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

// Dropping databases can outlast jest's 5 s on a loaded machine.
afterAll(async () => {
  const admin = new Client({ connectionString: testServices.postgresAdminUrl });
  await admin.connect();
  for (const name of created)
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`);
  await admin.end();
}, 60_000);

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

  async function newHost(overrides: Partial<HostEntity> = {}): Promise<HostEntity> {
    const ordinal = overrides.ordinal ?? Math.floor(Math.random() * 900_000) + 1000;
    const placement = overrides.placement ?? 'pool';
    const tier = overrides.tier ?? 'starter';
    return ds.getRepository(HostEntity).save({
      name: `${placement}-${tier}-${String(ordinal).padStart(3, '0')}`,
      placement,
      tier,
      ordinal,
      status: 'creating',
      instanceIdentifier: `silo-host-${placement}-${tier}-${ordinal}`,
      databaseName: 'app',
      capacityTenants: 10,
      connectionBudget: 40,
      ...overrides,
    });
  }

  it('gives existing and new tenants the instance placement and no host', async () => {
    const tenant = await newTenant();
    expect(await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id })).toMatchObject({
      placement: 'instance',
      hostId: null,
    });
  });

  it('places a shared tenant on a host, and refuses a host for an instance tenant', async () => {
    const host = await newHost();
    const tenant = await newTenant();
    await ds.query(`UPDATE tenants SET placement = 'pool', host_id = $2 WHERE id = $1`, [tenant.id, host.id]);
    expect(await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id })).toMatchObject({
      placement: 'pool',
      hostId: host.id,
    });
    const error = await ds
      .query(`UPDATE tenants SET placement = 'instance' WHERE id = $1`, [tenant.id])
      .catch((e: unknown) => e);
    expect(sqlState(error)).toBe('23514');
  });

  it('lets a shared tenant wait for its place, but not be ACTIVE without one', async () => {
    const tenant = await newTenant();
    await ds.query(`UPDATE tenants SET placement = 'schema', status = 'PROVISIONING' WHERE id = $1`, [
      tenant.id,
    ]);
    const error = await ds
      .query(`UPDATE tenants SET status = 'ACTIVE' WHERE id = $1`, [tenant.id])
      .catch((e: unknown) => e);
    expect(sqlState(error)).toBe('23514');
  });

  it('refuses an unknown placement and a host that does not exist', async () => {
    const tenant = await newTenant();
    const unknown = await ds
      .query(`UPDATE tenants SET placement = 'attic' WHERE id = $1`, [tenant.id])
      .catch((e: unknown) => e);
    expect(sqlState(unknown)).toBe('23514');
    const missing = await ds
      .query(`UPDATE tenants SET placement = 'pool', host_id = gen_random_uuid() WHERE id = $1`, [tenant.id])
      .catch((e: unknown) => e);
    expect(sqlState(missing)).toBe('23503');
  });

  it('does not let a host with tenants be deleted (foreign key)', async () => {
    const host = await newHost();
    const tenant = await newTenant();
    await ds.query(`UPDATE tenants SET placement = 'pool', host_id = $2 WHERE id = $1`, [tenant.id, host.id]);
    const error = await ds.query(`DELETE FROM hosts WHERE id = $1`, [host.id]).catch((e: unknown) => e);
    expect(sqlState(error)).toBe('23503');
  });

  it('refuses a second host with the same placement, tier and ordinal', async () => {
    await newHost({ placement: 'schema', tier: 'pro', ordinal: 7 });
    const error = await newHost({ placement: 'schema', tier: 'pro', ordinal: 7 }).catch((e: unknown) => e);
    expect(sqlState(error)).toBe('23505');
  });

  it.each<[string, Partial<HostEntity>]>([
    ['a name that is not placement-tier-ordinal', { name: 'pool-starter-999', ordinal: 998 }],
    ['a name that is no host name', { name: 'Pool_1' }],
    ['the instance placement', { placement: 'instance' as never, name: 'instance-starter-001', ordinal: 1 }],
    ['an unknown status', { status: 'resting' as never }],
    ['a capacity of no tenants', { capacityTenants: 0 }],
    ['a connection budget of zero', { connectionBudget: 0 }],
    ['an available host without an endpoint', { status: 'available' }],
    ['an endpoint host without a port', { endpointHost: 'db.internal' }],
    ['a deleted host without deleted_at', { status: 'deleted' }],
    ['ordinal 0', { ordinal: 0, name: 'pool-starter-000' }],
  ])('refuses %s (check_violation)', async (_, overrides) => {
    const error = await newHost(overrides).catch((e: unknown) => e);
    expect(sqlState(error)).toBe('23514');
  });

  it('accepts ordinals past three digits in the name', async () => {
    const host = await newHost({ placement: 'pool', tier: 'free', ordinal: 1234 });
    expect(host.name).toBe('pool-free-1234');
  });
});
