import { randomUUID } from 'node:crypto';
import type { Client } from 'pg';
import { quoteIdentifier } from '../../core/src';
import {
  disableLogins,
  dropReadOnlyLogin,
  ensureReadOnlyLogin,
  materialiseLocalInstance,
  type PgEndpoint,
} from '../src';
import {
  applyBuiltInSchema,
  adminUrl,
  dropTestTenants,
  endpoint,
  newTestTenant,
  openSession,
  ownerEndpoint,
  sqlStateOf,
  withAdmin,
  withClient,
  type TestTenant,
} from './tenant-db-fixtures';

const tenants: TestTenant[] = [];
const readers: string[] = [];
const sessions: Client[] = [];

afterAll(async () => {
  for (const session of sessions) await session.end().catch(() => undefined);
  await dropTestTenants(tenants, readers);
}, 60_000);

interface Restored {
  t: TestTenant;
  owner: { username: string; password: string };
  reader: { role: string; password: string };
  readerAt: (password?: string) => PgEndpoint;
}

/** An instance migrated with the built-in schema, notes of its tenant and of another, and a reader's name. */
async function instance(): Promise<Restored> {
  const t = newTestTenant(tenants);
  await materialiseLocalInstance(adminUrl, t);
  await applyBuiltInSchema(ownerEndpoint(t), t.tenantId);
  await withClient(ownerEndpoint(t), async (owner) => {
    for (const [tenant, texts] of [
      [t.tenantId, ['first', 'second']],
      [randomUUID(), ['not theirs']],
    ] as const) {
      await owner.query(`SELECT set_config('app.tenant_id', $1, false)`, [tenant]);
      for (const text of texts) await owner.query('INSERT INTO app.notes (text) VALUES ($1)', [text]);
    }
  });
  const role = t.ownerRole.replace(/_admin$/, '_reader');
  readers.push(role);
  const reader = { role, password: `reader-${randomUUID()}` };
  return {
    t,
    owner: { username: t.ownerRole, password: t.ownerPassword },
    reader,
    readerAt: (password = reader.password) => endpoint(t.database, role, password),
  };
}

async function session(at: PgEndpoint): Promise<Client> {
  const client = await openSession(at);
  sessions.push(client);
  return client;
}

function ensure(r: Restored, extra: { password?: string; connectionLimit?: number } = {}) {
  return ensureReadOnlyLogin(ownerEndpoint(r.t), r.owner, {
    role: r.reader.role,
    password: extra.password ?? r.reader.password,
    schema: 'app',
    tenantId: r.t.tenantId,
    connectionLimit: extra.connectionLimit,
  });
}

describe('ensureReadOnlyLogin', () => {
  it("reads exactly the tenant's rows through its search_path and cannot write, even with read-only transactions off", async () => {
    const r = await instance();
    await expect(ensure(r)).resolves.toEqual({ tenantSettingAsDefault: true });

    const reader = await session(r.readerAt());
    const { rows } = await reader.query<{ text: string }>('SELECT * FROM notes ORDER BY text');
    expect(rows.map((row) => row.text)).toEqual(['first', 'second']);
    expect(await sqlStateOf(reader.query(`INSERT INTO notes (text) VALUES ('x')`))).toBe('25006');

    await reader.query('SET default_transaction_read_only = off');
    expect(await sqlStateOf(reader.query(`INSERT INTO notes (text) VALUES ('x')`))).toBe('42501');
    expect(await sqlStateOf(reader.query(`UPDATE notes SET text = 'x'`))).toBe('42501');
    expect(await sqlStateOf(reader.query('DELETE FROM notes'))).toBe('42501');
    expect(await sqlStateOf(reader.query('TRUNCATE notes'))).toBe('42501');
    expect(await sqlStateOf(reader.query('CREATE TABLE app.mine (id int)'))).toBe('42501');
    expect(await sqlStateOf(reader.query('CREATE TABLE public.mine (id int)'))).toBe('42501');
    const { rows: after } = await reader.query<{ n: number }>('SELECT count(*)::int AS n FROM notes');
    expect(after[0].n).toBe(2);
  });

  it('checks the password (SCRAM): a wrong one is refused, and a re-run sets the new one', async () => {
    const r = await instance();
    await ensure(r);
    expect(await sqlStateOf(withClient(r.readerAt('wrong'), (c) => c.query('SELECT 1')))).toBe('28P01');
    const stored = await withAdmin(async (admin) => {
      const found = await admin.query<{ rolpassword: string }>(
        'SELECT rolpassword FROM pg_authid WHERE rolname = $1',
        [r.reader.role],
      );
      return found.rows[0].rolpassword;
    });
    expect(stored).toMatch(/^SCRAM-SHA-256\$/);

    await ensure(r, { password: 'rotated-password' });
    expect(await sqlStateOf(withClient(r.readerAt(), (c) => c.query('SELECT 1')))).toBe('28P01');
    await expect(
      withClient(r.readerAt('rotated-password'), (c) => c.query('SELECT 1')),
    ).resolves.toBeDefined();
  });

  it('converges concurrent runs, and removes privileges and memberships granted by hand', async () => {
    const r = await instance();
    await Promise.all([ensure(r), ensure(r), ensure(r, { connectionLimit: 2 })]);
    await withAdmin(async (admin) => {
      await admin.query(`GRANT INSERT ON app.notes TO "${r.reader.role}"`);
      await admin.query(`GRANT pg_write_all_data TO "${r.reader.role}"`);
    }, r.t.database);

    await ensure(r, { connectionLimit: 2 });

    const reader = await session(r.readerAt());
    await reader.query('SET default_transaction_read_only = off');
    expect(await sqlStateOf(reader.query(`INSERT INTO notes (text) VALUES ('x')`))).toBe('42501');
    const role = await withAdmin(async (admin) => {
      const found = await admin.query<{ rolconnlimit: number; members: number }>(
        `SELECT rolconnlimit, (SELECT count(*)::int FROM pg_auth_members WHERE member = r.oid) AS members
           FROM pg_roles r WHERE rolname = $1`,
        [r.reader.role],
      );
      return found.rows[0];
    });
    expect(role).toEqual({ rolconnlimit: 2, members: 0 });
  });
});

describe('dropReadOnlyLogin', () => {
  it('ends its sessions and drops it: its login is refused; a second drop is done', async () => {
    const r = await instance();
    await ensure(r);
    const open = await session(r.readerAt());

    await dropReadOnlyLogin(ownerEndpoint(r.t), r.owner, r.reader.role);

    await expect(open.query('SELECT 1')).rejects.toThrow();
    expect(await sqlStateOf(withClient(r.readerAt(), (c) => c.query('SELECT 1')))).toBe('28P01');
    const found = await withAdmin((admin) =>
      admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [r.reader.role]),
    );
    expect(found.rowCount).toBe(0);
    await expect(dropReadOnlyLogin(ownerEndpoint(r.t), r.owner, r.reader.role)).resolves.toBeUndefined();
  });
});

describe('disableLogins', () => {
  it("takes LOGIN from the restored tenant's own logins and ends their sessions; missing ones are done", async () => {
    const r = await instance();
    // A login of the tenant's as a restore brings it back: made by the owner, able to log in.
    const login = r.t.ownerRole.replace(/_admin$/, '_app_a');
    readers.push(login);
    const password = `app-${randomUUID()}`;
    await withClient(ownerEndpoint(r.t), (owner) =>
      owner.query(`CREATE ROLE ${quoteIdentifier(login)} LOGIN PASSWORD '${password}'`),
    );
    await withAdmin((admin) =>
      admin.query(`GRANT CONNECT ON DATABASE ${quoteIdentifier(r.t.database)} TO ${quoteIdentifier(login)}`),
    );
    const open = await session(endpoint(r.t.database, login, password));

    await disableLogins(ownerEndpoint(r.t), r.owner, [login, `${login}_missing`]);

    await expect(open.query('SELECT 1')).rejects.toThrow();
    expect(
      await sqlStateOf(withClient(endpoint(r.t.database, login, password), (c) => c.query('SELECT 1'))),
    ).toBe('28000');
    await expect(disableLogins(ownerEndpoint(r.t), r.owner, [login])).resolves.toBeUndefined();
    await expect(disableLogins(ownerEndpoint(r.t), r.owner, [r.owner.username])).rejects.toThrow(/owner/);
  });
});
