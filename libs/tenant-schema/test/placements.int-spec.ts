import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import {
  appLoginRoles,
  bootstrapAppRole,
  loadTenantMigrations,
  materialiseLocalInstance,
  migrateTenantSchema,
  readTenantLedger,
  setAppLogin,
  TENANT_POLICY,
  TenantMigrationError,
  type MigrationTarget,
  type PgEndpoint,
  type TenantMigrationSet,
} from '../src';
import {
  adminUrl,
  dropTestTenants,
  endpoint,
  newTestTenant,
  ownerEndpoint,
  sqlStateOf,
  TEST_MIGRATION_TIMEOUTS,
  withClient,
  type TestTenant,
} from './tenant-db-fixtures';

const hosts: TestTenant[] = [];
const extraRoles: string[] = [];
const scratch: string[] = [];

// Dropping databases can outlast jest's 5 s on a loaded machine.
afterAll(async () => {
  await dropTestTenants(hosts, extraRoles);
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** A shared host's database: a local instance whose owner plays the host's master user. */
async function sharedHost(): Promise<{ host: TestTenant; owner: PgEndpoint }> {
  const host = newTestTenant(hosts);
  await materialiseLocalInstance(adminUrl, host);
  return { host, owner: ownerEndpoint(host) };
}

function migrate(owner: PgEndpoint, set: TenantMigrationSet, into: MigrationTarget) {
  return migrateTenantSchema(owner, set, {
    ...TEST_MIGRATION_TIMEOUTS,
    appliedBy: 'test',
    tenant: 'placements',
    into,
  });
}

/** A migration set written for the test (file name → SQL). */
function migrations(files: Record<string, string>): TenantMigrationSet {
  const dir = mkdtempSync(join(tmpdir(), 'silo-placements-'));
  scratch.push(dir);
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(dir, name), sql);
  return loadTenantMigrations({ dir });
}

async function refusal(promise: Promise<unknown>): Promise<TenantMigrationError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TenantMigrationError) return error;
    throw error;
  }
  throw new Error('expected the migration to be refused');
}

/** Runs `work` in a transaction with `app.tenant_id` set for it only, as the router does for pooled tenants. */
async function asTenant<T>(client: Client, tenantId: string, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    await client.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenantId]);
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

const POOL: MigrationTarget = { placement: 'pool', schema: 'app' };

describe('one tenant schema for every placement', () => {
  it('puts every tenant table of a pool database under forced row-level security keyed on app.tenant_id', async () => {
    const { host, owner } = await sharedHost();
    expect((await migrate(owner, loadTenantMigrations(), POOL)).schemaVersion).toBe('0002');

    const state = await withClient(
      owner,
      async (c) =>
        (
          await c.query(
            `SELECT c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
                  (SELECT array_agg(polname::text) FROM pg_policy WHERE polrelid = c.oid) AS policies
             FROM pg_class c WHERE c.oid = 'app.notes'::regclass`,
          )
        ).rows,
    );
    expect(state).toEqual([{ rls: true, forced: true, policies: [TENANT_POLICY] }]);

    // The shared pool login: no tenant of its own.
    const poolRole = `${host.appRole}_pool`;
    extraRoles.push(...appLoginRoles(poolRole), poolRole);
    const [login] = appLoginRoles(poolRole);
    await bootstrapAppRole(owner, { role: poolRole, login, password: host.appPassword, schema: 'app' });
    const a = randomUUID();
    const b = randomUUID();
    await withClient(endpoint(host.database, login, host.appPassword), async (c) => {
      await asTenant(c, a, () => c.query(`INSERT INTO notes (text) VALUES ('a1'), ('a2')`));
      await asTenant(c, b, () => c.query(`INSERT INTO notes (text) VALUES ('b1')`));
      // Each tenant sees, changes and deletes only its own rows; the default filled tenant_id.
      expect(
        await asTenant(
          c,
          a,
          async () => (await c.query('SELECT tenant_id, text FROM notes ORDER BY text')).rows,
        ),
      ).toEqual([
        { tenant_id: a, text: 'a1' },
        { tenant_id: a, text: 'a2' },
      ]);
      expect(await asTenant(c, b, async () => (await c.query(`UPDATE notes SET text = 'x'`)).rowCount)).toBe(
        1,
      );
      expect(
        await asTenant(c, b, async () => (await c.query(`DELETE FROM notes WHERE text LIKE 'a%'`)).rowCount),
      ).toBe(0);
      // Writing another tenant's id is refused by the policy's check.
      expect(
        await sqlStateOf(
          asTenant(c, a, () => c.query(`INSERT INTO notes (tenant_id, text) VALUES ($1, 'forged')`, [b])),
        ),
      ).toBe('42501');
      // The setting ended with each transaction: outside one the login sees nothing and can write nothing.
      expect((await c.query(`SELECT current_setting('app.tenant_id', true) AS t`)).rows).toEqual([{ t: '' }]);
      expect((await c.query('SELECT count(*)::int AS n FROM notes')).rows).toEqual([{ n: 0 }]);
      expect(await sqlStateOf(c.query(`INSERT INTO notes (text) VALUES ('nobody')`))).toBe('42501');
    });
    // The owner is held too (FORCE): without a tenant it sees no row.
    expect(
      await withClient(owner, async (c) => (await c.query('SELECT count(*)::int AS n FROM app.notes')).rows),
    ).toEqual([{ n: 0 }]);
  });

  it('fails a pool migration whose table has no tenant_id, naming the table, and applies nothing of it', async () => {
    const { owner } = await sharedHost();
    const set = migrations({
      '0001_notes.sql': 'CREATE TABLE notes (tenant_id uuid NOT NULL, id uuid PRIMARY KEY, text text);',
      '0002_tags.sql': 'CREATE TABLE tags (id uuid PRIMARY KEY, name text NOT NULL);',
    });
    const error = await refusal(migrate(owner, set, POOL));
    expect(error.code).toBe('MIGRATION_FAILED');
    expect(error.message).toContain('app.tags has no tenant_id column');
    expect(error.details).toMatchObject({ reached: '0001', version: '0002', migration: '0002_tags.sql' });
    expect((await readTenantLedger(owner)).map((e) => e.version)).toEqual(['0001']);
    expect(
      await withClient(owner, async (c) => (await c.query(`SELECT to_regclass('app.tags') AS t`)).rows),
    ).toEqual([{ t: null }]);

    // The same table is allowed in an instance database (one tenant's rows): only pools need the column.
    const instance = await sharedHost();
    const tenantId = randomUUID();
    expect(
      (await migrate(instance.owner, set, { placement: 'instance', schema: 'app', tenantId })).schemaVersion,
    ).toBe('0002');
  });

  it('refuses what would let a tenant see past its rows: a nullable or non-uuid tenant_id, another permissive policy, a materialized view in a pool', async () => {
    const cases: Array<[string, string]> = [
      [
        'CREATE TABLE notes (tenant_id text NOT NULL, id int PRIMARY KEY);',
        'app.notes.tenant_id is text NOT NULL',
      ],
      ['CREATE TABLE notes (tenant_id uuid, id int PRIMARY KEY);', 'app.notes.tenant_id is uuid (nullable)'],
      [
        'CREATE TABLE notes (tenant_id uuid NOT NULL, id int PRIMARY KEY); CREATE POLICY everyone ON notes USING (true);',
        'permissive policy everyone',
      ],
      [
        'CREATE TABLE notes (tenant_id uuid NOT NULL, id int PRIMARY KEY); CREATE MATERIALIZED VIEW counts AS SELECT tenant_id, count(*) FROM notes GROUP BY 1;',
        'app.counts is a materialized view',
      ],
    ];
    for (const [sql, message] of cases) {
      const { owner } = await sharedHost();
      const error = await refusal(migrate(owner, migrations({ '0001_first.sql': sql }), POOL));
      expect(error.message).toContain(message);
      expect(await readTenantLedger(owner)).toEqual([]);
    }
    // A restrictive policy only narrows what a tenant sees: it is kept beside Silo's.
    const { owner } = await sharedHost();
    await migrate(
      owner,
      migrations({
        '0001_first.sql':
          'CREATE TABLE notes (tenant_id uuid NOT NULL, id int PRIMARY KEY, hidden boolean NOT NULL DEFAULT false); CREATE POLICY visible ON notes AS RESTRICTIVE USING (NOT hidden);',
      }),
      POOL,
    );
    const policies = await withClient(
      owner,
      async (c) =>
        (await c.query(`SELECT polname FROM pg_policy WHERE polrelid = 'app.notes'::regclass ORDER BY 1`))
          .rows,
    );
    expect(policies).toEqual([{ polname: TENANT_POLICY }, { polname: 'visible' }]);
  });

  it('leaves tables already in shape untouched, and puts back a policy changed by hand', async () => {
    const { owner } = await sharedHost();
    const files = { '0001_notes.sql': 'CREATE TABLE notes (tenant_id uuid NOT NULL, id int PRIMARY KEY);' };
    await migrate(owner, migrations(files), POOL);
    const policy = () =>
      withClient(
        owner,
        async (c) =>
          (
            await c.query(
              `SELECT oid::int AS oid, pg_get_expr(polqual, polrelid) AS qual FROM pg_policy WHERE polrelid = 'app.notes'::regclass`,
            )
          ).rows[0] as { oid: number; qual: string },
      );
    const before = await policy();
    await migrate(owner, migrations({ ...files, '0002_noop.sql': 'SELECT 1;' }), POOL);
    expect(await policy()).toEqual(before);

    await withClient(owner, (c) => c.query(`ALTER POLICY ${TENANT_POLICY} ON app.notes USING (true)`));
    await migrate(
      owner,
      migrations({ ...files, '0002_noop.sql': 'SELECT 1;', '0003_noop.sql': 'SELECT 2;' }),
      POOL,
    );
    expect((await policy()).qual).toBe(before.qual);
  });

  it('makes a pool migration that reads or writes rows fail instead of touching none', async () => {
    const { owner } = await sharedHost();
    const set = migrations({
      '0001_notes.sql': 'CREATE TABLE notes (tenant_id uuid NOT NULL, id int PRIMARY KEY, text text);',
      '0002_backfill.sql': `UPDATE notes SET text = 'backfilled' WHERE text IS NULL;`,
    });
    const error = await refusal(migrate(owner, set, POOL));
    expect(error.message).toMatch(/row-level security/);
    expect(error.details.sqlState).toBe('42501');
  });

  it('gives each schema tenant its schema, its ledger and a role that reaches nothing else on the host', async () => {
    const { host, owner } = await sharedHost();
    const tenants = ['a', 'b'].map((n) => ({
      schema: `${host.appRole}_${n}`,
      role: `${host.appRole}_${n}_app`,
      tenantId: randomUUID(),
    }));
    for (const t of tenants) {
      extraRoles.push(...appLoginRoles(t.role), t.role);
      const into: MigrationTarget = { placement: 'schema', schema: t.schema, tenantId: t.tenantId };
      expect((await migrate(owner, loadTenantMigrations(), into)).schemaVersion).toBe('0002');
      expect((await readTenantLedger(owner, into)).map((e) => e.version)).toEqual(['0001', '0002']);
      await bootstrapAppRole(owner, {
        role: t.role,
        login: appLoginRoles(t.role)[0],
        password: host.appPassword,
        schema: t.schema,
        tenantId: t.tenantId,
      });
    }
    // An instance-style ledger was never made: each schema's is its own.
    expect(await readTenantLedger(owner)).toEqual([]);

    const [a, b] = tenants;
    await withClient(endpoint(host.database, appLoginRoles(a.role)[0], host.appPassword), async (c) => {
      // Role defaults: unqualified names are its schema's, its rows its own, with no statement first.
      expect(
        (await c.query(`SELECT current_setting('app.tenant_id') AS t, current_schema() AS s`)).rows,
      ).toEqual([{ t: a.tenantId, s: a.schema }]);
      await c.query(`INSERT INTO notes (text) VALUES ('mine')`);
      expect((await c.query('SELECT tenant_id, text FROM notes')).rows).toEqual([
        { tenant_id: a.tenantId, text: 'mine' },
      ]);
      // Another schema on the host, the ledgers, public: out of reach.
      expect(await sqlStateOf(c.query(`SELECT * FROM "${b.schema}".notes`))).toBe('42501');
      expect(await sqlStateOf(c.query(`SELECT * FROM silo_ledgers."${a.schema}"`))).toBe('42501');
      expect(await sqlStateOf(c.query('CREATE TABLE public.mine (id int)'))).toBe('42501');
      expect(await sqlStateOf(c.query('CREATE TABLE notes_copy (id int)'))).toBe('42501');
    });

    // A rotation's new login carries the same defaults.
    const next = appLoginRoles(a.role)[1];
    await setAppLogin(owner, { group: a.role, login: next, password: `${host.appPassword}-next` });
    await withClient(endpoint(host.database, next, `${host.appPassword}-next`), async (c) => {
      expect(
        (await c.query(`SELECT current_setting('app.tenant_id') AS t, current_schema() AS s`)).rows,
      ).toEqual([{ t: a.tenantId, s: a.schema }]);
      expect((await c.query('SELECT text FROM notes')).rows).toEqual([{ text: 'mine' }]);
    });
  });

  it('refuses targets that cannot hold tenant tables', async () => {
    const { owner } = await sharedHost();
    const set = loadTenantMigrations();
    const bad: Array<[MigrationTarget, RegExp]> = [
      [{ placement: 'pool', schema: 'app', tenantId: randomUUID() }, /takes no tenant id/],
      [{ placement: 'schema', schema: 'app' }, /needs a schema of its own/],
      [{ placement: 'schema', schema: 'public' }, /cannot hold tenant tables/],
      [{ placement: 'instance', schema: 'other' }, /keeps its tables in schema app/],
      [{ placement: 'schema', schema: 'x"; DROP SCHEMA app; --' }, /not a valid SQL identifier/],
      [{ placement: 'instance', schema: 'app', tenantId: 'acme' }, /not a tenant id/],
    ];
    for (const [into, message] of bad) await expect(migrate(owner, set, into)).rejects.toThrow(message);
  });
});
