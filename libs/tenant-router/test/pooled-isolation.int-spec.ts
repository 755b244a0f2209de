import { randomUUID } from 'node:crypto';
import type { Principal } from '@silo/auth';
import { quoteIdentifier } from '@silo/core';
import {
  appLoginRoles,
  bootstrapAppRole,
  loadTenantMigrations,
  migrateTenantSchema,
  NoteEntity,
  type MigrationTarget,
} from '@silo/tenant-schema';
import type { Client } from 'pg';
import type { DataSource, EntityManager } from 'typeorm';
import {
  endpoint,
  newTestTenant,
  ownerEndpoint,
  sqlStateOf,
  TEST_MIGRATION_TIMEOUTS,
  withClient,
} from '../../tenant-schema/test/tenant-db-fixtures';
import { TenantContext, tenantRequestContext } from '../src/nest';
import {
  TenantLeaseError,
  TenantLeaseErrorCode,
  TenantRouter,
  type TenantAppCredentials,
  type TenantLease,
  type TenantPlacement,
  type TenantRouterOptions,
} from '../src';
import {
  createTenantDatabases,
  dropTenantDatabases,
  FakeAppSecrets,
  FakeTenantDirectory,
  materialise,
  tenantIdOf,
  withAdmin,
  type TestTenant,
} from './tenant-router-fixtures';

jest.setTimeout(60_000);

const POOLED = 50;
const HOST_NAME = 'pool-starter-001';
const registry: TestTenant[] = [];
const extraRoles: string[] = [];

/** The pool database of one host: its owner, its one pool login, the built-in schema under RLS. */
let pool: TestTenant;
let poolLogin: TenantAppCredentials;
const pooled = Array.from({ length: POOLED }, () => randomUUID());
const hostId = randomUUID();

/** One shared database holding two schema tenants, each with its own schema and role. */
let schemaHost: TestTenant;
const schemaTenants = [0, 1].map((i) => ({
  id: randomUUID(),
  schema: `silo_t_schema_${randomUUID().slice(0, 8)}_${i}`,
  role: `silo_t_schema_${randomUUID().slice(0, 8)}_${i}_app`,
  password: `schema-app-${randomUUID()}`,
}));
let instance: TestTenant;

const at = (database: string, username: string, password: string): TenantAppCredentials => {
  const e = endpoint(database, username, password);
  return { host: e.host, port: e.port, dbname: database, username, password };
};

function migrate(t: TestTenant, into: MigrationTarget) {
  return migrateTenantSchema(ownerEndpoint(t), loadTenantMigrations(), {
    ...TEST_MIGRATION_TIMEOUTS,
    appliedBy: 'test',
    tenant: t.database,
    into,
  });
}

beforeAll(async () => {
  pool = newTestTenant(registry);
  await materialise(pool);
  const login = appLoginRoles(pool.appRole)[0];
  extraRoles.push(login);
  await bootstrapAppRole(ownerEndpoint(pool), {
    role: pool.appRole,
    login,
    password: pool.appPassword,
    schema: 'app',
  });
  await migrate(pool, { placement: 'pool', schema: 'app' });
  poolLogin = at(pool.database, login, pool.appPassword);

  schemaHost = newTestTenant(registry);
  await materialise(schemaHost);
  for (const s of schemaTenants) {
    extraRoles.push(s.role);
    await bootstrapAppRole(ownerEndpoint(schemaHost), {
      role: s.role,
      password: s.password,
      schema: s.schema,
      tenantId: s.id,
    });
    await migrate(schemaHost, { placement: 'schema', schema: s.schema, tenantId: s.id });
  }

  [instance] = await createTenantDatabases(1, registry);
}, 120_000);

afterAll(async () => {
  await dropTenantDatabases(registry, 4, extraRoles);
}, 60_000);

const routers: TenantRouter[] = [];
afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.close()));
});

/** A router over the pool host's tenants, the two schema tenants and the instance tenant. */
function newRouter(overrides: Partial<TenantRouterOptions> = {}): TenantRouter {
  const directory = new FakeTenantDirectory();
  const secrets = new FakeAppSecrets();
  const placement: TenantPlacement = { kind: 'pool', hostId, hostName: HOST_NAME };
  for (const id of pooled) directory.add(id, 'ACTIVE', 'starter', placement);
  secrets.putHost(HOST_NAME, poolLogin);
  for (const s of schemaTenants) {
    directory.add(s.id, 'ACTIVE', 'pro', { kind: 'schema', schema: s.schema });
    secrets.put(s.id, at(schemaHost.database, s.role, s.password));
  }
  directory.add(tenantIdOf(instance), 'ACTIVE', 'enterprise');
  secrets.put(tenantIdOf(instance), at(instance.database, instance.appRole, instance.appPassword));
  const router = new TenantRouter(directory, secrets, {
    entities: [NoteEntity],
    maxDataSources: 10,
    connectionBudget: 12,
    poolSizeByTier: { starter: 1, pro: 2, enterprise: 2 },
    poolSizePerHost: 4,
    idleTimeoutMs: 60_000,
    connectionTimeoutMs: 10_000,
    statusTtlMs: 60_000,
    secretTtlMs: 60_000,
    failureBackoffMs: 100,
    ssl: false,
    ...overrides,
  });
  routers.push(router);
  return router;
}

/** Every note of the pool database, read past row-level security (as a superuser). */
async function poolRows(): Promise<{ tenant_id: string; id: string; text: string }[]> {
  return withAdmin(
    async (admin) => (await admin.query('SELECT tenant_id, id, text FROM app.notes ORDER BY text')).rows,
    pool.database,
  );
}

async function clearPool(): Promise<void> {
  await withAdmin((admin) => admin.query('DELETE FROM app.notes'), pool.database);
}

const shuffled = <T>(items: T[]): T[] =>
  items
    .map((item) => ({ item, key: Math.random() }))
    .sort((a, b) => a.key - b.key)
    .map(({ item }) => item);

const principal = (tenantId: string): Principal => ({ sub: 'test', roles: [], tenantId });

describe('pooled tenants on one host', () => {
  afterEach(clearPool);

  it('never lets one tenant read, update or delete another’s rows: 50 tenants, interleaved concurrent transactions', async () => {
    const router = newRouter();
    const ROUNDS = 8;
    /** Every note id written so far, with its tenant: the others try to reach them. */
    const written: { tenantId: string; id: string }[] = [];
    const seenBy = new Map<string, number>();
    const foreignTouched: string[] = [];

    const round = (tenantId: string, r: number) =>
      router.transaction(tenantId, async (manager) => {
        const notes = manager.getRepository(NoteEntity);
        const kept = await notes.save(notes.create({ text: `${tenantId}#${r}#kept` }));
        const doomed = await notes.save(notes.create({ text: `${tenantId}#${r}#doomed` }));
        expect((await notes.findOneByOrFail({ id: kept.id })).tenantId).toBe(tenantId);

        // Another tenant's notes, by id: none may be updated, deleted or read.
        const others = written.filter((w) => w.tenantId !== tenantId).slice(-5);
        for (const other of others) {
          const updated = await manager.query(
            `UPDATE notes SET text = 'stolen' WHERE id = $1 RETURNING tenant_id`,
            [other.id],
          );
          const deleted = await manager.query(`DELETE FROM notes WHERE id = $1 RETURNING tenant_id`, [
            other.id,
          ]);
          const read = await notes.findBy({ id: other.id });
          if (updated[0].length + deleted[0].length + read.length > 0) foreignTouched.push(other.id);
        }

        const updated: { tenant_id: string }[] = (
          await manager.query(`UPDATE notes SET text = text || '*' WHERE id = $1 RETURNING tenant_id`, [
            kept.id,
          ])
        )[0];
        const deleted: { tenant_id: string }[] = (
          await manager.query(`DELETE FROM notes WHERE text LIKE '%#doomed' RETURNING tenant_id`)
        )[0];
        expect(updated.map((u) => u.tenant_id)).toEqual([tenantId]);
        expect(deleted.length).toBeGreaterThanOrEqual(1);
        expect(deleted.every((d) => d.tenant_id === tenantId)).toBe(true);

        const all = await notes.find();
        for (const note of all) {
          expect(note.tenantId).toBe(tenantId);
          expect(note.text.startsWith(`${tenantId}#`)).toBe(true);
        }
        seenBy.set(tenantId, all.length);
        written.push({ tenantId, id: kept.id }, { tenantId, id: doomed.id });
      });

    for (let r = 0; r < ROUNDS; r++) await Promise.all(shuffled(pooled).map((id) => round(id, r)));

    expect(foreignTouched).toEqual([]);
    expect([...seenBy.values()]).toEqual(Array(POOLED).fill(ROUNDS));
    const rows = await poolRows();
    expect(rows).toHaveLength(POOLED * ROUNDS);
    const perTenant = new Map<string, string[]>();
    for (const row of rows) perTenant.set(row.tenant_id, [...(perTenant.get(row.tenant_id) ?? []), row.text]);
    expect([...perTenant.keys()].sort()).toEqual([...pooled].sort());
    for (const [tenantId, texts] of perTenant)
      expect(texts.sort()).toEqual(Array.from({ length: ROUNDS }, (_, r) => `${tenantId}#${r}#kept*`).sort());

    // All of it on the host's one DataSource, within its pool size.
    expect(router.stats()).toMatchObject({ open: 1, leases: 0, initialisations: 1, secretFetches: 1 });
    expect(router.stats().peakConnections).toBeLessThanOrEqual(4);
  });

  it('leaves no tenant on the connection after a transaction that threw, failed in SQL, or committed', async () => {
    const router = newRouter({ poolSizePerHost: 1 });
    const [a, b] = pooled;
    let shared: DataSource | undefined;
    const pidInside = () =>
      router.transaction(a, async (manager: EntityManager) => {
        shared = manager.connection;
        const [{ pid, tenant }] = await manager.query(
          `SELECT pg_backend_pid() AS pid, current_setting('app.tenant_id', true) AS tenant`,
        );
        expect(tenant).toBe(a);
        return pid as number;
      });
    const pid = await pidInside();
    await router.transaction(b, (manager) =>
      manager.getRepository(NoteEntity).save({ text: 'b was here' } as NoteEntity),
    );

    /** The same physical connection, used outside any transaction: no tenant, no rows. */
    const outside = async () => {
      const [row] = await shared!.query(
        `SELECT pg_backend_pid() AS pid, current_setting('app.tenant_id', true) AS tenant,
                (SELECT count(*)::int FROM notes) AS visible`,
      );
      expect(row.pid).toBe(pid);
      expect(row.tenant ?? '').toBe('');
      expect(row.visible).toBe(0);
    };
    await outside();

    const thrown = new Error('the work failed');
    await expect(
      router.transaction(a, async (manager) => {
        await manager.getRepository(NoteEntity).save({ text: 'rolled back' } as NoteEntity);
        throw thrown;
      }),
    ).rejects.toBe(thrown);
    await outside();

    const sqlFailure = router.transaction(a, async (manager) => {
      await manager.getRepository(NoteEntity).save({ text: 'rolled back too' } as NoteEntity);
      await manager.query(`INSERT INTO notes (text) VALUES ('')`);
    });
    expect(await sqlStateOf(sqlFailure)).toBe('23514');
    await outside();

    // A rollback to a savepoint inside the work leaves the transaction (and its tenant) to end as usual.
    await router.transaction(a, async (manager) => {
      await manager.query('SAVEPOINT s');
      await manager.query('ROLLBACK TO SAVEPOINT s');
    });
    await outside();
    expect(await pidInside()).toBe(pid);

    expect((await poolRows()).map((r) => [r.tenant_id, r.text])).toEqual([[b, 'b was here']]);
  });

  it('refuses work outside a transaction through a pooled lease, and the pool login alone reaches no row', async () => {
    const router = newRouter();
    const [a] = pooled;
    await router.transaction(a, (manager) =>
      manager.getRepository(NoteEntity).save({ text: 'a note' } as NoteEntity),
    );
    const lease: TenantLease = await router.acquire(a);
    try {
      const refusals = [
        () => lease.dataSource,
        () =>
          TenantContext.run(tenantRequestContext(lease, principal(a)), () =>
            TenantContext.repository(NoteEntity),
          ),
        () => TenantContext.run(tenantRequestContext(lease, principal(a)), () => TenantContext.manager()),
      ].map((use) => {
        try {
          use();
          return 'allowed';
        } catch (error) {
          return error instanceof TenantLeaseError ? error.code : String(error);
        }
      });
      expect(refusals).toEqual(Array(3).fill(TenantLeaseErrorCode.POOLED_TENANT_NEEDS_TRANSACTION));
      await expect(router.getDataSource(a)).rejects.toBeInstanceOf(TenantLeaseError);
      const inContext = await TenantContext.run(tenantRequestContext(lease, principal(a)), () =>
        TenantContext.transaction((manager) => manager.getRepository(NoteEntity).count()),
      );
      expect(inContext).toBe(1);
    } finally {
      lease.release();
    }

    // The pool login on a connection of its own, no tenant set: nothing to read, nothing to write.
    const login = endpoint(poolLogin.dbname, poolLogin.username, poolLogin.password);
    await withClient(login, async (client: Client) => {
      await client.query('SET search_path = app');
      expect((await client.query('SELECT count(*)::int AS n FROM notes')).rows[0].n).toBe(0);
      expect(['42501', '23502']).toContain(
        await sqlStateOf(client.query(`INSERT INTO notes (text) VALUES ('x')`)),
      );
      expect(
        await sqlStateOf(client.query(`INSERT INTO notes (tenant_id, text) VALUES ($1, 'x')`, [a])),
      ).toBe('42501');
      expect((await client.query(`UPDATE notes SET text = 'y'`)).rowCount).toBe(0);
      expect((await client.query(`DELETE FROM notes`)).rowCount).toBe(0);
    });
    expect((await poolRows()).map((r) => r.text)).toEqual(['a note']);
  });
});

describe('instance and schema tenants', () => {
  it('resolve unqualified names in their own schema, with the tenant set, through dataSource and transaction alike', async () => {
    const router = newRouter();
    const id = tenantIdOf(instance);
    const [{ search_path, tenant }] = await router.run(id, (ds) =>
      ds.query(
        `SELECT current_setting('search_path') AS search_path, current_setting('app.tenant_id') AS tenant`,
      ),
    );
    expect([String(search_path).replace(/"/g, ''), tenant]).toEqual(['app', id]);
    const saved = await router.transaction(id, (manager) =>
      manager.getRepository(NoteEntity).save({ text: 'instance note' } as NoteEntity),
    );
    const lease = await router.acquire(id);
    try {
      expect(lease.placement).toBe('instance');
      expect(
        (await lease.dataSource.getRepository(NoteEntity).find()).map((n) => [n.tenantId, n.text]),
      ).toEqual([[id, 'instance note']]);
    } finally {
      lease.release();
    }
    expect(saved.id).toEqual(expect.any(String));

    for (const s of schemaTenants) {
      const current = await router.transaction(s.id, async (manager) => {
        await manager.getRepository(NoteEntity).save({ text: `note of ${s.schema}` } as NoteEntity);
        return (await manager.query(`SELECT current_schema() AS schema`))[0].schema;
      });
      expect(current).toBe(s.schema);
    }
    for (const s of schemaTenants) {
      const rows = await withAdmin(
        async (admin) =>
          (await admin.query(`SELECT tenant_id, text FROM ${quoteIdentifier(s.schema)}.notes`)).rows,
        schemaHost.database,
      );
      expect(rows).toEqual([{ tenant_id: s.id, text: `note of ${s.schema}` }]);
    }
  });

  it('keeps a schema tenant out of another schema tenant’s table on the same database', async () => {
    const router = newRouter();
    const [mine, theirs] = schemaTenants;
    const other = quoteIdentifier(theirs.schema);
    await router.run(mine.id, async (ds) => {
      expect(await sqlStateOf(ds.query(`SELECT * FROM ${other}.notes`))).toBe('42501');
      expect(await sqlStateOf(ds.query(`INSERT INTO ${other}.notes (text) VALUES ('x')`))).toBe('42501');
    });
    const viaPath = router.transaction(mine.id, async (manager) => {
      await manager.query(`SET LOCAL search_path = ${other}`);
      return manager.query('SELECT * FROM notes');
    });
    expect(['42501', '42P01']).toContain(await sqlStateOf(viaPath));
    // Its own schema stays its own: both tenants' DataSources are separate.
    expect(router.stats().open).toBe(1);
  });
});
