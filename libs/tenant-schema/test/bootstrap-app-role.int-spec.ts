import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { InvalidSqlIdentifierError } from '../../core/src';
import {
  AppRoleMembershipError,
  appLoginRoles,
  bootstrapAppRole,
  dropAppRole,
  materialiseLocalInstance,
  NoteEntity,
  TENANT_SCHEMA_LEDGER,
  type PgEndpoint,
} from '../src';
import {
  adminUrl,
  applyBuiltInSchema,
  appEndpoint,
  dropTestTenants,
  endpoint,
  newTestTenant,
  ownerEndpoint,
  roleExists,
  sqlStateOf,
  storedPasswordIs,
  withAdmin,
  withClient,
  type TestTenant,
} from './tenant-db-fixtures';

const tenants: TestTenant[] = [];
const extraRoles: string[] = [];
const INSUFFICIENT_PRIVILEGE = '42501';

/** Migrated before the app role exists: the role gets grants on existing tables. */
let a: TestTenant;
/** The saga's order, role first: the role gets the migrated tables through default privileges. */
let b: TestTenant;

beforeAll(async () => {
  a = newTestTenant(tenants);
  b = newTestTenant(tenants);
  await materialiseLocalInstance(adminUrl, a);
  await applyBuiltInSchema(ownerEndpoint(a));
  await bootstrapAppRole(ownerEndpoint(a), {
    role: a.appRole,
    tenantId: a.tenantId,
    password: a.appPassword,
    connectionLimit: 5,
  });

  await materialiseLocalInstance(adminUrl, b);
  await bootstrapAppRole(ownerEndpoint(b), {
    role: b.appRole,
    tenantId: b.tenantId,
    password: b.appPassword,
  });
  await applyBuiltInSchema(ownerEndpoint(b));
});

afterAll(() => dropTestTenants(tenants, extraRoles));

async function roleAttributes(role: string): Promise<Record<string, unknown> | undefined> {
  return withAdmin(async (admin) => {
    const result = await admin.query<Record<string, unknown>>(
      `SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolreplication, rolbypassrls,
              rolconnlimit
         FROM pg_roles WHERE rolname = $1`,
      [role],
    );
    return result.rows[0];
  });
}

async function readWriteNotes(at: PgEndpoint): Promise<void> {
  await withClient(at, async (c) => {
    const inserted = await c.query(`INSERT INTO app.notes (text) VALUES ('hello') RETURNING id`);
    const id = inserted.rows[0].id as string;
    expect((await c.query('SELECT text FROM app.notes WHERE id = $1', [id])).rows).toEqual([
      { text: 'hello' },
    ]);
    expect((await c.query(`UPDATE app.notes SET text = 'bye' WHERE id = $1`, [id])).rowCount).toBe(1);
    expect((await c.query('DELETE FROM app.notes WHERE id = $1', [id])).rowCount).toBe(1);
  });
}

const originalQuery = Client.prototype.query;

describe('bootstrapAppRole', () => {
  it('creates a login role with no special attributes and the given password', async () => {
    expect(await roleAttributes(a.appRole)).toEqual({
      rolcanlogin: true,
      rolsuper: false,
      rolcreatedb: false,
      rolcreaterole: false,
      rolinherit: false,
      rolreplication: false,
      rolbypassrls: false,
      rolconnlimit: 5,
    });
    expect(await storedPasswordIs(a.appRole, a.appPassword)).toBe(true);
  });

  it('lets the app role insert, select, update and delete notes', async () => {
    await readWriteNotes(appEndpoint(a));
  });

  it('covers tables migrated after the role was bootstrapped (default privileges)', async () => {
    await readWriteNotes(appEndpoint(b));
  });

  it('lets the app role use NoteEntity through TypeORM', async () => {
    const at = appEndpoint(a);
    const ds = await new DataSource({
      type: 'postgres',
      host: at.host,
      port: at.port,
      database: at.database,
      username: at.user,
      password: at.password,
      entities: [NoteEntity],
      logging: false,
    }).initialize();
    try {
      const notes = ds.getRepository(NoteEntity);
      const saved = await notes.save(notes.create({ text: 'via typeorm' }));
      expect(saved.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(saved.createdAt).toBeInstanceOf(Date);
      expect(await notes.findOneByOrFail({ id: saved.id })).toMatchObject({ text: 'via typeorm' });
    } finally {
      await ds.destroy();
    }
  });

  it.each([
    ['CREATE TABLE in the app schema', 'CREATE TABLE app.x (id int)'],
    ['CREATE TABLE in public', 'CREATE TABLE public.x (id int)'],
    ['CREATE TEMP TABLE', 'CREATE TEMP TABLE x (id int)'],
    ['CREATE SCHEMA', 'CREATE SCHEMA s'],
    ['DROP TABLE', 'DROP TABLE app.notes'],
    ['ALTER TABLE', 'ALTER TABLE app.notes ADD COLUMN y int'],
    ['TRUNCATE', 'TRUNCATE app.notes'],
    ['reading the migrations table in public', 'SELECT * FROM public.silo_schema_migrations'],
  ])('refuses the app role %s (42501)', async (_what, statement) => {
    expect(await sqlStateOf(withClient(appEndpoint(a), (c) => c.query(statement)))).toBe(
      INSUFFICIENT_PRIVILEGE,
    );
  });

  it('lets the app role use tables and sequences the owner creates later', async () => {
    await withClient(ownerEndpoint(a), (c) =>
      c.query('CREATE TABLE app.later (id bigserial PRIMARY KEY, v text NOT NULL)'),
    );
    await withClient(appEndpoint(a), async (c) => {
      await c.query(`INSERT INTO app.later (v) VALUES ('one'), ('two')`);
      expect((await c.query('SELECT v FROM app.later ORDER BY id')).rows).toEqual([
        { v: 'one' },
        { v: 'two' },
      ]);
    });
  });

  it("keeps each tenant's roles out of the other tenant's database", async () => {
    const connect = (at: PgEndpoint) => withClient(at, (c) => c.query('SELECT 1'));
    expect(await sqlStateOf(connect({ ...appEndpoint(a), database: b.database }))).toBe(
      INSUFFICIENT_PRIVILEGE,
    );
    expect(await sqlStateOf(connect({ ...appEndpoint(b), database: a.database }))).toBe(
      INSUFFICIENT_PRIVILEGE,
    );
    expect(await sqlStateOf(connect({ ...ownerEndpoint(a), database: b.database }))).toBe(
      INSUFFICIENT_PRIVILEGE,
    );
  });

  it('is idempotent, and a re-run with a new password leaves only the new one', async () => {
    const t = newTestTenant(tenants);
    await materialiseLocalInstance(adminUrl, t);
    const spec = { role: t.appRole, tenantId: t.tenantId, password: t.appPassword, connectionLimit: 3 };
    await bootstrapAppRole(ownerEndpoint(t), spec);
    await bootstrapAppRole(ownerEndpoint(t), spec);
    expect(await storedPasswordIs(t.appRole, t.appPassword)).toBe(true);

    await bootstrapAppRole(ownerEndpoint(t), { ...spec, password: 'rotated-password' });
    expect(await storedPasswordIs(t.appRole, 'rotated-password')).toBe(true);
    expect(await storedPasswordIs(t.appRole, t.appPassword)).toBe(false);
    expect((await roleAttributes(t.appRole))?.rolconnlimit).toBe(3);

    await applyBuiltInSchema(ownerEndpoint(t));
    await readWriteNotes(endpoint(t.database, t.appRole, 'rotated-password'));
  });

  it('never sends a password to the server, only its SCRAM verifier', async () => {
    const t = newTestTenant(tenants);
    const sent: string[] = [];
    const query = jest.spyOn(Client.prototype, 'query').mockImplementation(function (
      this: Client,
      ...args: unknown[]
    ) {
      if (typeof args[0] === 'string') sent.push(args[0]);
      return originalQuery.apply(this, args as never);
    });
    try {
      await materialiseLocalInstance(adminUrl, t);
      await bootstrapAppRole(ownerEndpoint(t), {
        role: t.appRole,
        tenantId: t.tenantId,
        password: t.appPassword,
      });
    } finally {
      query.mockRestore();
    }
    const roleStatements = sent.filter((q) => /PASSWORD/.test(q));
    expect(roleStatements.length).toBeGreaterThanOrEqual(2);
    expect(roleStatements.every((q) => /PASSWORD 'SCRAM-SHA-256\$4096:/.test(q))).toBe(true);
    expect(sent.some((q) => q.includes(t.appPassword) || q.includes(t.ownerPassword))).toBe(false);
    expect(await storedPasswordIs(t.appRole, t.appPassword)).toBe(true);
    expect(await storedPasswordIs(t.ownerRole, t.ownerPassword)).toBe(true);
  });

  it('takes back privileges granted by hand when run again', async () => {
    const t = newTestTenant(tenants);
    await materialiseLocalInstance(adminUrl, t);
    await applyBuiltInSchema(ownerEndpoint(t));
    const spec = { role: t.appRole, tenantId: t.tenantId, password: t.appPassword };
    await bootstrapAppRole(ownerEndpoint(t), spec);
    const role = `"${t.appRole}"`;
    await withClient(ownerEndpoint(t), async (c) => {
      await c.query(`GRANT TRUNCATE ON app.notes TO ${role}`);
      await c.query(`GRANT CREATE ON SCHEMA app TO ${role}`);
      await c.query(`GRANT CREATE, TEMPORARY ON DATABASE "${t.database}" TO ${role}`);
    });

    await bootstrapAppRole(ownerEndpoint(t), spec);
    await withClient(appEndpoint(t), async (c) => {
      expect(await sqlStateOf(c.query('TRUNCATE app.notes'))).toBe(INSUFFICIENT_PRIVILEGE);
      expect(await sqlStateOf(c.query('CREATE TABLE app.x (id int)'))).toBe(INSUFFICIENT_PRIVILEGE);
      expect(await sqlStateOf(c.query('CREATE SCHEMA s'))).toBe(INSUFFICIENT_PRIVILEGE);
    });
    await readWriteNotes(appEndpoint(t));
  });

  it('leaves PUBLIC nothing on the database or the public schema, whatever it had', async () => {
    const t = newTestTenant(tenants);
    await materialiseLocalInstance(adminUrl, t);
    // More than a fresh RDS database gives PUBLIC (CONNECT, TEMPORARY, USAGE on public).
    await withClient(ownerEndpoint(t), async (c) => {
      await c.query(`GRANT ALL ON DATABASE "${t.database}" TO PUBLIC`);
      await c.query('GRANT ALL ON SCHEMA public TO PUBLIC');
    });

    await bootstrapAppRole(ownerEndpoint(t), {
      role: t.appRole,
      tenantId: t.tenantId,
      password: t.appPassword,
    });

    const publicGrants = await withClient(ownerEndpoint(t), async (c) => ({
      database: (
        await c.query(
          `SELECT count(*)::int AS n FROM pg_database, aclexplode(datacl) a WHERE datname = $1 AND a.grantee = 0`,
          [t.database],
        )
      ).rows[0].n,
      schema: (
        await c.query(
          `SELECT count(*)::int AS n FROM pg_namespace, aclexplode(nspacl) a WHERE nspname = 'public' AND a.grantee = 0`,
        )
      ).rows[0].n,
      appUsesPublic: (await c.query(`SELECT has_schema_privilege($1, 'public', 'USAGE') AS ok`, [t.appRole]))
        .rows[0].ok,
    }));
    expect(publicGrants).toEqual({ database: 0, schema: 0, appUsesPublic: false });
    const intruder = { ...appEndpoint(b), database: t.database };
    expect(await sqlStateOf(withClient(intruder, (c) => c.query('SELECT 1')))).toBe(INSUFFICIENT_PRIVILEGE);
  });

  it('lets several callers bootstrap the same role at once', async () => {
    const t = newTestTenant(tenants);
    await materialiseLocalInstance(adminUrl, t);
    const spec = { role: t.appRole, tenantId: t.tenantId, password: t.appPassword };
    const results = await Promise.allSettled([1, 2, 3].map(() => bootstrapAppRole(ownerEndpoint(t), spec)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    expect(await storedPasswordIs(t.appRole, t.appPassword)).toBe(true);
  });

  it('rejects invalid identifiers and arguments before it connects', async () => {
    const unreachable = { ...endpoint('silo-t-ok', 'silo_t_ok_admin', 'pw'), port: 1 };
    const spec = { role: 'silo_t_ok_app', password: 'pw' };
    const cases: Array<[PgEndpoint, typeof spec & { schema?: string }]> = [
      [unreachable, { ...spec, role: 'x"; drop' }],
      [unreachable, { ...spec, schema: 'app; drop' }],
      [{ ...unreachable, database: 'db"' }, spec],
      [{ ...unreachable, user: 'owner"' }, spec],
    ];
    for (const [owner, app] of cases)
      await expect(bootstrapAppRole(owner, app)).rejects.toBeInstanceOf(InvalidSqlIdentifierError);
    await expect(dropAppRole(unreachable, 'x"; drop')).rejects.toBeInstanceOf(InvalidSqlIdentifierError);
    await expect(bootstrapAppRole(unreachable, { ...spec, password: '' })).rejects.toThrow('non-empty');
    await expect(bootstrapAppRole(unreachable, { ...spec, connectionLimit: 1.5 })).rejects.toThrow(
      'at least -1',
    );
    await expect(bootstrapAppRole(unreachable, { ...spec, role: unreachable.user })).rejects.toThrow(
      'must not be the owner role',
    );
  });

  it('refuses to take over a privileged role, without echoing the password', async () => {
    const secret = `secret-${Date.now()}`;
    const attempt = bootstrapAppRole(ownerEndpoint(a), { role: 'postgres', password: secret });
    await expect(attempt).rejects.toThrow('refusing to use it');
    await attempt.catch((error: Error) => expect(`${error.message}${error.stack}`).not.toContain(secret));
    expect(await storedPasswordIs('postgres', secret)).toBe(false);
  });
});

/** The roles `role` is a direct member of, with their admin option. */
async function membershipsOf(role: string): Promise<string[]> {
  return withAdmin(async (admin) => {
    const { rows } = await admin.query<{ name: string }>(
      `SELECT g.rolname || CASE WHEN m.admin_option THEN ' (admin)' ELSE '' END AS name
         FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member
        WHERE r.rolname = $1 ORDER BY 1`,
      [role],
    );
    return rows.map((r) => r.name);
  });
}

/** A tenant bootstrapped with its first alternating login, `…_app_a`. */
async function tenantWithLogin(): Promise<{ t: TestTenant; login: string; other: string }> {
  const t = newTestTenant(tenants);
  const [login, other] = appLoginRoles(t.appRole);
  extraRoles.push(login, other);
  await materialiseLocalInstance(adminUrl, t);
  await applyBuiltInSchema(ownerEndpoint(t));
  await bootstrapAppRole(ownerEndpoint(t), {
    role: t.appRole,
    tenantId: t.tenantId,
    login,
    password: t.appPassword,
  });
  return { t, login, other };
}

describe('bootstrapAppRole with a login (new tenants)', () => {
  it('makes the app role a NOLOGIN group without a password and the login its member with the rights', async () => {
    const { t, login } = await tenantWithLogin();
    expect(await roleAttributes(t.appRole)).toMatchObject({ rolcanlogin: false, rolinherit: false });
    expect(await storedPasswordIs(t.appRole, t.appPassword)).toBe(false);
    expect(await roleAttributes(login)).toMatchObject({
      rolcanlogin: true,
      rolsuper: false,
      rolcreaterole: false,
      rolinherit: true,
      rolbypassrls: false,
    });
    expect(await storedPasswordIs(login, t.appPassword)).toBe(true);
    expect(await membershipsOf(login)).toEqual([t.appRole]);
    expect(await membershipsOf(t.appRole)).toEqual([]);

    await readWriteNotes(endpoint(t.database, login, t.appPassword));
    // The app role has no password the server could accept.
    expect(await sqlStateOf(withClient(appEndpoint(t), (c) => c.query('SELECT 1')))).toBe('28P01');
    expect(
      await sqlStateOf(
        withClient(endpoint(t.database, login, t.appPassword), (c) => c.query('DROP TABLE app.notes')),
      ),
    ).toBe(INSUFFICIENT_PRIVILEGE);
  });

  it('is idempotent, and leaves the other login of the pair unable to log in', async () => {
    const { t, login, other } = await tenantWithLogin();
    await withAdmin((admin) =>
      admin.query(`CREATE ROLE "${other}" LOGIN PASSWORD 'stray-password' IN ROLE "${t.appRole}"`),
    );
    await bootstrapAppRole(ownerEndpoint(t), {
      role: t.appRole,
      tenantId: t.tenantId,
      login,
      password: t.appPassword,
    });
    expect(await storedPasswordIs(login, t.appPassword)).toBe(true);
    expect(await roleAttributes(other)).toMatchObject({ rolcanlogin: false });
    expect(await storedPasswordIs(other, 'stray-password')).toBe(false);
    await readWriteNotes(endpoint(t.database, login, t.appPassword));
  });

  it('refuses a login outside the pair, or the owner, before it connects', async () => {
    const unreachable = { ...endpoint('silo-t-ok', 'silo_t_ok_admin', 'pw'), port: 1 };
    const spec = { role: 'silo_t_ok_app', password: 'pw' };
    await expect(bootstrapAppRole(unreachable, { ...spec, login: 'silo_t_ok_app_c' })).rejects.toThrow(
      'is not one of the login roles',
    );
    await expect(bootstrapAppRole(unreachable, { ...spec, login: 'silo_t_ok_admin' })).rejects.toThrow(
      'must not be the owner',
    );
    await expect(bootstrapAppRole(unreachable, { ...spec, login: 'x"; drop' })).rejects.toBeInstanceOf(
      InvalidSqlIdentifierError,
    );
  });
});

describe('bootstrapAppRole and memberships granted by hand', () => {
  it('revokes pg_read_all_data (and any other role) from the app role and its logins, and says which', async () => {
    const { t, login, other } = await tenantWithLogin();
    const extra = `${t.appRole}_extra`;
    extraRoles.push(extra);
    await withAdmin(async (admin) => {
      await admin.query(`CREATE ROLE "${extra}" NOLOGIN`);
      await admin.query(`CREATE ROLE "${other}" NOLOGIN`);
      await admin.query(`GRANT pg_read_all_data TO "${login}"`);
      await admin.query(`GRANT pg_read_all_data, "${extra}" TO "${t.appRole}"`);
      await admin.query(`GRANT pg_signal_backend TO "${other}"`);
      await admin.query(`GRANT "${t.appRole}" TO "${login}" WITH ADMIN OPTION`);
    });
    // What the hand-granted membership gives before the bootstrap runs again.
    await withClient(endpoint(t.database, login, t.appPassword), (c) =>
      c.query(`SELECT count(*) FROM public.${TENANT_SCHEMA_LEDGER}`),
    );

    const { revokedMemberships } = await bootstrapAppRole(ownerEndpoint(t), {
      role: t.appRole,
      tenantId: t.tenantId,
      login,
      password: t.appPassword,
    });

    expect(revokedMemberships).toEqual(
      expect.arrayContaining([
        { member: t.appRole, role: 'pg_read_all_data' },
        { member: t.appRole, role: extra },
        { member: login, role: 'pg_read_all_data' },
        { member: login, role: t.appRole, adminOption: true },
        { member: other, role: 'pg_signal_backend' },
      ]),
    );
    expect(revokedMemberships).toHaveLength(5);
    expect(await membershipsOf(t.appRole)).toEqual([]);
    expect(await membershipsOf(login)).toEqual([t.appRole]);
    expect(await membershipsOf(other)).toEqual([]);
    await withClient(endpoint(t.database, login, t.appPassword), async (c) => {
      expect(await sqlStateOf(c.query(`SELECT count(*) FROM public.${TENANT_SCHEMA_LEDGER}`))).toBe(
        INSUFFICIENT_PRIVILEGE,
      );
      expect(await sqlStateOf(c.query('SET ROLE pg_read_all_data'))).toBe(INSUFFICIENT_PRIVILEGE);
    });
    await readWriteNotes(endpoint(t.database, login, t.appPassword));

    const again = await bootstrapAppRole(ownerEndpoint(t), {
      role: t.appRole,
      tenantId: t.tenantId,
      login,
      password: t.appPassword,
    });
    expect(again.revokedMemberships).toEqual([]);
  });

  it('revokes them from an app role that logs in itself too', async () => {
    const t = newTestTenant(tenants);
    await materialiseLocalInstance(adminUrl, t);
    await applyBuiltInSchema(ownerEndpoint(t));
    await bootstrapAppRole(ownerEndpoint(t), {
      role: t.appRole,
      tenantId: t.tenantId,
      password: t.appPassword,
    });
    await withAdmin((admin) => admin.query(`GRANT pg_read_all_data TO "${t.appRole}"`));

    const { revokedMemberships } = await bootstrapAppRole(ownerEndpoint(t), {
      role: t.appRole,
      password: t.appPassword,
    });

    expect(revokedMemberships).toEqual([{ member: t.appRole, role: 'pg_read_all_data' }]);
    expect(await membershipsOf(t.appRole)).toEqual([]);
    expect(await sqlStateOf(withClient(appEndpoint(t), (c) => c.query('SET ROLE pg_read_all_data')))).toBe(
      INSUFFICIENT_PRIVILEGE,
    );
  });

  it('refuses, with a coded error naming it and nothing changed, a membership the owner cannot revoke', async () => {
    const { t, login } = await tenantWithLogin();
    // Only a superuser may manage membership in a superuser role.
    await withAdmin((admin) => admin.query(`GRANT postgres, pg_read_all_data TO "${login}"`));

    const attempt = bootstrapAppRole(ownerEndpoint(t), {
      role: t.appRole,
      tenantId: t.tenantId,
      login,
      password: 'new-password',
    });

    await expect(attempt).rejects.toBeInstanceOf(AppRoleMembershipError);
    await attempt.catch((error: AppRoleMembershipError) => {
      expect(error.code).toBe('APP_ROLE_MEMBERSHIP_NOT_REVOKED');
      expect(error.memberships).toEqual([{ member: login, role: 'postgres' }]);
      expect(error.message).toContain(`${login} in postgres`);
      expect(error.message).not.toContain('new-password');
    });
    // The transaction rolled back: the other revocation and the new password too.
    expect(await membershipsOf(login)).toEqual(['pg_read_all_data', 'postgres', t.appRole].sort());
    expect(await storedPasswordIs(login, t.appPassword)).toBe(true);
    await withAdmin((admin) => admin.query(`REVOKE postgres FROM "${login}"`));
  });
});

describe('dropAppRole', () => {
  it('drops the role with its grants and default privileges, and dropping again is fine', async () => {
    const role = `${a.appRole}_x`;
    extraRoles.push(role);
    await bootstrapAppRole(ownerEndpoint(a), { role, password: 'extra-password' });

    await dropAppRole(ownerEndpoint(a), role);
    await dropAppRole(ownerEndpoint(a), role);

    expect(await roleExists(role)).toBe(false);
    expect(await roleExists(a.appRole)).toBe(true);
    await readWriteNotes(appEndpoint(a));
  });
});
