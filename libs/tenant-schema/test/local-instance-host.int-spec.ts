import { Client } from 'pg';
import { InvalidSqlIdentifierError } from '../../core/src';
import {
  bootstrapAppRole,
  handOverLocalInstance,
  materialiseLocalInstance,
  removeLocalInstance,
  renameLocalInstance,
  trimRestoredHost,
} from '../src';
import {
  adminUrl,
  databaseExists,
  dropTestTenants,
  newTestTenant,
  openSession,
  ownerEndpoint,
  appEndpoint,
  roleExists,
  sqlStateOf,
  storedPasswordIs,
  withAdmin,
  withClient,
  type TestTenant,
} from './tenant-db-fixtures';

const tenants: TestTenant[] = [];
const UNREACHABLE_ADMIN_URL = 'postgres://postgres@127.0.0.1:1/postgres';

afterAll(() => dropTestTenants(tenants));

function instanceOf(t: TestTenant, ownerPassword = t.ownerPassword) {
  return { database: t.database, ownerRole: t.ownerRole, ownerPassword };
}

async function facts(t: TestTenant) {
  return withAdmin(async (admin) => {
    const role = await admin.query(
      `SELECT rolcanlogin, rolcreaterole, rolsuper, rolcreatedb,
              pg_has_role(rolname, 'pg_signal_backend', 'USAGE') AS signals_backends
         FROM pg_roles WHERE rolname = $1`,
      [t.ownerRole],
    );
    const database = await admin.query(
      `SELECT pg_get_userbyid(datdba) AS owner, datconnlimit,
              (SELECT count(*)::int FROM aclexplode(datacl) a WHERE a.grantee = 0) AS public_grants
         FROM pg_database WHERE datname = $1`,
      [t.database],
    );
    return { role: role.rows[0], database: database.rows[0] };
  });
}

describe('local instance host', () => {
  it('creates the owner role and its database, and a second run changes nothing', async () => {
    const t = newTestTenant(tenants);
    await materialiseLocalInstance(adminUrl, instanceOf(t));
    await materialiseLocalInstance(adminUrl, instanceOf(t));

    expect(await facts(t)).toEqual({
      // pg_signal_backend, as the RDS master has through rds_superuser.
      role: {
        rolcanlogin: true,
        rolcreaterole: true,
        rolsuper: false,
        rolcreatedb: false,
        signals_backends: true,
      },
      database: { owner: t.ownerRole, datconnlimit: -1, public_grants: 0 },
    });
    expect(await storedPasswordIs(t.ownerRole, t.ownerPassword)).toBe(true);
    const who = await withClient(ownerEndpoint(t), (c) =>
      c.query('SELECT current_user AS user, current_database() AS db'),
    );
    expect(who.rows).toEqual([{ user: t.ownerRole, db: t.database }]);
  });

  it('sets the given password again, so only the newest one opens the owner', async () => {
    const t = newTestTenant(tenants);
    await materialiseLocalInstance(adminUrl, instanceOf(t, 'first-password'));
    expect(await storedPasswordIs(t.ownerRole, 'first-password')).toBe(true);

    await materialiseLocalInstance(adminUrl, instanceOf(t, 'second-password'));
    expect(await storedPasswordIs(t.ownerRole, 'second-password')).toBe(true);
    expect(await storedPasswordIs(t.ownerRole, 'first-password')).toBe(false);
  });

  it('keeps other roles out of the database', async () => {
    const t = newTestTenant(tenants);
    const other = newTestTenant(tenants);
    await materialiseLocalInstance(adminUrl, instanceOf(t));
    await materialiseLocalInstance(adminUrl, instanceOf(other));
    const intruder = { ...ownerEndpoint(other), database: t.database };
    expect(await sqlStateOf(withClient(intruder, (c) => c.query('SELECT 1')))).toBe('42501');
  });

  it('applies the connection limit to the database and resets it when omitted', async () => {
    const t = newTestTenant(tenants);
    await materialiseLocalInstance(adminUrl, { ...instanceOf(t), connectionLimit: 7 });
    expect((await facts(t)).database.datconnlimit).toBe(7);
    await materialiseLocalInstance(adminUrl, instanceOf(t));
    expect((await facts(t)).database.datconnlimit).toBe(-1);
  });

  it('lets several callers materialise the same instance at once', async () => {
    const t = newTestTenant(tenants);
    const results = await Promise.allSettled(
      Array.from({ length: 4 }, () => materialiseLocalInstance(adminUrl, instanceOf(t))),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect((await facts(t)).database.owner).toBe(t.ownerRole);
  });

  it('rejects invalid names and passwords before it connects', async () => {
    const good = { database: 'silo-t-ok', ownerRole: 'silo_t_ok', ownerPassword: 'pw' };
    await expect(
      materialiseLocalInstance(UNREACHABLE_ADMIN_URL, { ...good, ownerRole: 'x"; drop' }),
    ).rejects.toBeInstanceOf(InvalidSqlIdentifierError);
    await expect(
      materialiseLocalInstance(UNREACHABLE_ADMIN_URL, { ...good, database: 'a b' }),
    ).rejects.toBeInstanceOf(InvalidSqlIdentifierError);
    await expect(
      materialiseLocalInstance(UNREACHABLE_ADMIN_URL, { ...good, ownerPassword: '' }),
    ).rejects.toThrow('owner password must be a non-empty string');
    await expect(
      removeLocalInstance(UNREACHABLE_ADMIN_URL, { database: 'silo-t-ok', roles: ['ok', 'x"; drop'] }),
    ).rejects.toBeInstanceOf(InvalidSqlIdentifierError);
  });

  it('checks every role name before dropping anything', async () => {
    const t = newTestTenant(tenants);
    await materialiseLocalInstance(adminUrl, instanceOf(t));
    await expect(
      removeLocalInstance(adminUrl, { database: t.database, roles: [t.ownerRole, 'bad"role'] }),
    ).rejects.toBeInstanceOf(InvalidSqlIdentifierError);
    expect(await databaseExists(t.database)).toBe(true);
    expect(await roleExists(t.ownerRole)).toBe(true);
  });

  it('removes the database, its app role and its owner, and removing again is fine', async () => {
    const t = newTestTenant(tenants);
    await materialiseLocalInstance(adminUrl, instanceOf(t));
    await bootstrapAppRole(ownerEndpoint(t), {
      role: t.appRole,
      tenantId: t.tenantId,
      password: t.appPassword,
    });
    // A session still busy in the database must not stop the removal.
    const session = await openSession(ownerEndpoint(t));
    const busy = session.query('SELECT pg_sleep(30)').then(
      () => 'finished',
      () => 'terminated',
    );

    const instance = { database: t.database, roles: [t.appRole, t.ownerRole] };
    await removeLocalInstance(adminUrl, instance);
    await removeLocalInstance(adminUrl, instance);

    expect(await busy).toBe('terminated');
    await session.end().catch(() => undefined);
    expect(await databaseExists(t.database)).toBe(false);
    expect(await roleExists(t.appRole)).toBe(false);
    expect(await roleExists(t.ownerRole)).toBe(false);
  });

  it('renames a database with sessions in it, once; never onto another database', async () => {
    const t = newTestTenant(tenants);
    const renamed = newTestTenant(tenants);
    const other = newTestTenant(tenants);
    await materialiseLocalInstance(adminUrl, instanceOf(t));
    await materialiseLocalInstance(adminUrl, instanceOf(other));
    const session = await openSession(ownerEndpoint(t));
    const busy = session.query('SELECT pg_sleep(30)').then(
      () => 'finished',
      () => 'terminated',
    );

    await renameLocalInstance(adminUrl, { from: t.database, to: renamed.database });
    await renameLocalInstance(adminUrl, { from: t.database, to: renamed.database });

    expect(await busy).toBe('terminated');
    await session.end().catch(() => undefined);
    expect([await databaseExists(t.database), await databaseExists(renamed.database)]).toEqual([false, true]);
    await expect(
      renameLocalInstance(adminUrl, { from: renamed.database, to: other.database }),
    ).rejects.toThrow(`${other.database} exists`);
    expect(await databaseExists(renamed.database)).toBe(true);
  });

  it('hands a database and what its owner owns in it to a new owner, leaving its other databases and logins out', async () => {
    const t = newTestTenant(tenants);
    const sibling = { ...newTestTenant(tenants), ownerRole: t.ownerRole, ownerPassword: t.ownerPassword };
    const heir = newTestTenant(tenants);
    await materialiseLocalInstance(adminUrl, instanceOf(t));
    await materialiseLocalInstance(adminUrl, instanceOf(sibling));
    await bootstrapAppRole(ownerEndpoint(t), {
      role: t.appRole,
      tenantId: t.tenantId,
      password: t.appPassword,
    });
    await withClient(ownerEndpoint(t), async (c) => {
      await c.query('CREATE SCHEMA IF NOT EXISTS app');
      await c.query('CREATE TABLE app.notes (id bigserial PRIMARY KEY, body text)');
      await c.query('CREATE VIEW app.bodies AS SELECT body FROM app.notes');
      await c.query('CREATE FUNCTION app.shout(t text) RETURNS text LANGUAGE sql AS $$ SELECT upper(t) $$');
      await c.query("INSERT INTO app.notes (body) VALUES ('kept')");
    });

    const spec = {
      database: t.database,
      ownerRole: heir.ownerRole,
      ownerPassword: heir.ownerPassword,
      previousOwner: t.ownerRole,
    };
    await handOverLocalInstance(adminUrl, spec);
    await handOverLocalInstance(adminUrl, spec);

    const owners = await withAdmin(async (admin) => {
      const db = await admin.query<{ datname: string; owner: string }>(
        `SELECT datname, pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = ANY($1) ORDER BY datname`,
        [[t.database, sibling.database]],
      );
      return db.rows;
    });
    expect(owners).toEqual(
      [
        { datname: t.database, owner: heir.ownerRole },
        { datname: sibling.database, owner: t.ownerRole },
      ].sort((a, b) => a.datname.localeCompare(b.datname)),
    );
    const inside = await withClient(
      { ...ownerEndpoint(t), user: heir.ownerRole, password: heir.ownerPassword },
      async (c) => {
        const objects = await c.query<{ name: string; owner: string }>(
          `SELECT c.relname AS name, pg_get_userbyid(c.relowner) AS owner FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'app' AND c.relkind IN ('r', 'v', 'S')
           UNION ALL SELECT p.proname, pg_get_userbyid(p.proowner) FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'app'
           UNION ALL SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'app'
           ORDER BY 1`,
        );
        const rows = await c.query('SELECT body FROM app.notes');
        return { objects: objects.rows, rows: rows.rows };
      },
    );
    expect(inside).toEqual({
      objects: ['app', 'bodies', 'notes', 'notes_id_seq', 'shout'].map((name) => ({
        name,
        owner: heir.ownerRole,
      })),
      rows: [{ body: 'kept' }],
    });
    // The previous tenant's owner and app logins open it no more; the sibling's owner still opens its own.
    expect(await sqlStateOf(withClient(ownerEndpoint(t), (c) => c.query('SELECT 1')))).toBe('42501');
    expect(await sqlStateOf(withClient(appEndpoint(t), (c) => c.query('SELECT 1')))).toBe('42501');
    await expect(withClient(ownerEndpoint(sibling), (c) => c.query('SELECT 1'))).resolves.toBeDefined();
  });

  it('hands a database over so completely that its previous owner and app role can be dropped while it keeps its data', async () => {
    const t = newTestTenant(tenants);
    // The tenant's live database: the same owner and app role, which keep everything there.
    const live = { ...newTestTenant(tenants), ownerRole: t.ownerRole, ownerPassword: t.ownerPassword };
    const heir = newTestTenant(tenants);
    const app = { role: t.appRole, tenantId: t.tenantId, password: t.appPassword };
    await materialiseLocalInstance(adminUrl, instanceOf(t));
    await materialiseLocalInstance(adminUrl, instanceOf(live));
    await bootstrapAppRole(ownerEndpoint(t), app);
    await bootstrapAppRole(ownerEndpoint(live), app);
    const largeObject = await withClient(ownerEndpoint(t), async (c) => {
      await c.query('CREATE SCHEMA IF NOT EXISTS app');
      await c.query('CREATE TYPE app.pair AS (x int, y int)');
      await c.query("CREATE TYPE app.mood AS ENUM ('calm', 'busy')");
      await c.query('CREATE DOMAIN app.short AS text CHECK (length(VALUE) < 100)');
      await c.query(
        'CREATE TABLE app.notes (id bigserial PRIMARY KEY, body app.short, at app.pair, mood app.mood)',
      );
      await c.query("INSERT INTO app.notes (body, at, mood) VALUES ('kept', ROW(1, 2), 'calm')");
      await c.query(`GRANT SELECT (body) ON app.notes TO ${t.appRole}`);
      await c.query(`GRANT USAGE ON TYPE app.mood TO ${t.appRole}`);
      await c.query('ALTER TABLE app.notes ENABLE ROW LEVEL SECURITY');
      await c.query(`CREATE POLICY theirs ON app.notes TO ${t.appRole} USING (true)`);
      // Default privileges of the owner's for the whole database, besides bootstrapAppRole's for app.
      await c.query('ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC');
      await c.query(`ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO ${t.appRole}`);
      const { rows } = await c.query<{ oid: number }>(
        "SELECT lo_from_bytea(0, convert_to('kept aside', 'UTF8')) AS oid",
      );
      await c.query(`GRANT SELECT ON LARGE OBJECT ${rows[0].oid} TO ${t.appRole}`);
      return rows[0].oid;
    });

    const spec = {
      database: t.database,
      ownerRole: heir.ownerRole,
      ownerPassword: heir.ownerPassword,
      previousOwner: t.ownerRole,
    };
    await handOverLocalInstance(adminUrl, spec);
    await handOverLocalInstance(adminUrl, spec);

    // Nothing in the handed-over database depends on the tenant's roles any more.
    const left = await withAdmin(
      (admin) =>
        admin.query<{ what: string }>(
          `SELECT pg_describe_object(s.classid, s.objid, s.objsubid) AS what FROM pg_shdepend s
            WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND s.refobjid IN ($1::regrole, $2::regrole)`,
          [t.ownerRole, t.appRole],
        ),
      t.database,
    );
    expect(left.rows).toEqual([]);
    // Its live database and what it holds on the server's shared objects are the tenant's as before.
    const shared = await withAdmin(async (admin) => {
      const { rows } = await admin.query<{ owner: string; connects: boolean; sets: boolean }>(
        `SELECT pg_get_userbyid(datdba) AS owner, has_database_privilege($2, datname, 'CONNECT') AS connects,
                has_parameter_privilege($3, 'app.tenant_id', 'SET') AS sets
           FROM pg_database WHERE datname = $1`,
        [live.database, t.appRole, t.ownerRole],
      );
      return rows;
    });
    expect(shared).toEqual([{ owner: t.ownerRole, connects: true, sets: true }]);

    // The tenant deleted (its live database, its app role and owner dropped), the copy stays.
    await removeLocalInstance(adminUrl, { database: live.database, roles: [t.appRole, t.ownerRole] });
    expect([await roleExists(t.appRole), await roleExists(t.ownerRole)]).toEqual([false, false]);
    const kept = await withClient(
      { ...ownerEndpoint(t), user: heir.ownerRole, password: heir.ownerPassword },
      async (c) => ({
        notes: (await c.query('SELECT body, (at).y, mood::text FROM app.notes')).rows,
        aside: (await c.query(`SELECT convert_from(lo_get($1), 'UTF8') AS text`, [largeObject])).rows,
        types: (
          await c.query(
            `SELECT typname, pg_get_userbyid(typowner) AS owner FROM pg_type
              WHERE typnamespace = 'app'::regnamespace AND typname IN ('pair', 'mood', 'short') ORDER BY typname`,
          )
        ).rows,
      }),
    );
    expect(kept).toEqual({
      notes: [{ body: 'kept', y: 2, mood: 'calm' }],
      aside: [{ text: 'kept aside' }],
      types: ['mood', 'pair', 'short'].map((typname) => ({ typname, owner: heir.ownerRole })),
    });
  });

  it("trims a restored pool to one tenant's rows, children before parents, and leaves its ledger whole", async () => {
    const t = newTestTenant(tenants);
    const [mine, theirs] = [t.tenantId, newTestTenant(tenants).tenantId];
    await materialiseLocalInstance(adminUrl, instanceOf(t));
    await withClient(ownerEndpoint(t), async (c) => {
      await c.query('CREATE SCHEMA IF NOT EXISTS app');
      await c.query('CREATE TABLE app.projects (id int PRIMARY KEY, tenant_id uuid NOT NULL)');
      await c.query(
        'CREATE TABLE app.tasks (id int PRIMARY KEY, tenant_id uuid NOT NULL, project_id int NOT NULL REFERENCES app.projects (id))',
      );
      await c.query('CREATE TABLE public.silo_schema_ledger (version text PRIMARY KEY)');
      await c.query("INSERT INTO public.silo_schema_ledger VALUES ('0002')");
      await c.query('INSERT INTO app.projects VALUES (1, $1), (2, $2)', [mine, theirs]);
      await c.query('INSERT INTO app.tasks VALUES (1, $1, 1), (2, $2, 2), (3, $2, 2)', [mine, theirs]);
      await c.query('ALTER TABLE app.tasks ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY');
    });

    const trimmed = await trimRestoredHost(ownerEndpoint(t), {
      placement: 'pool',
      schema: 'app',
      tenantId: mine,
    });

    expect(trimmed.deletedRows).toEqual({ projects: 1, tasks: 2 });
    // Read as the server's superuser, whom row-level security does not filter.
    const url = new URL(adminUrl);
    url.pathname = `/${t.database}`;
    const admin = new Client({ connectionString: url.toString() });
    admin.on('error', () => undefined);
    await admin.connect();
    const left = {
      projects: (await admin.query('SELECT id FROM app.projects')).rows,
      tasks: (await admin.query('SELECT id FROM app.tasks')).rows,
      ledger: (await admin.query('SELECT version FROM public.silo_schema_ledger')).rows,
      forced: (
        await admin.query("SELECT relforcerowsecurity AS f FROM pg_class WHERE oid = 'app.tasks'::regclass")
      ).rows,
    };
    await admin.end();
    expect(left).toEqual({
      projects: [{ id: 1 }],
      tasks: [{ id: 1 }],
      ledger: [{ version: '0002' }],
      forced: [{ f: true }],
    });
  });
});
