import type { Client } from 'pg';
import {
  appLoginRoles,
  bootstrapAppRole,
  materialiseLocalInstance,
  retireAppLogin,
  setAppLogin,
  terminateSessions,
} from '../src';
import {
  adminUrl,
  applyBuiltInSchema,
  dropTestTenants,
  endpoint,
  newTestTenant,
  openSession,
  ownerEndpoint,
  withAdmin,
  type TestTenant,
} from './tenant-db-fixtures';

const tenants: TestTenant[] = [];
const extraRoles: string[] = [];
const sessions: Client[] = [];

// Dropping databases can outlast jest's 5 s on a loaded machine.
afterAll(async () => {
  for (const session of sessions) await session.end().catch(() => undefined);
  await dropTestTenants(tenants, extraRoles);
}, 60_000);

/** A tenant on its first login (`…_app_a`), migrated, with the second login's name. */
async function tenant(): Promise<{ t: TestTenant; a: string; b: string }> {
  const t = newTestTenant(tenants);
  const [a, b] = appLoginRoles(t.appRole);
  extraRoles.push(a, b);
  await materialiseLocalInstance(adminUrl, t);
  await applyBuiltInSchema(ownerEndpoint(t));
  await bootstrapAppRole(ownerEndpoint(t), {
    role: t.appRole,
    tenantId: t.tenantId,
    login: a,
    password: t.appPassword,
  });
  return { t, a, b };
}

async function session(database: string, user: string, password: string): Promise<Client> {
  const client = await openSession(endpoint(database, user, password));
  sessions.push(client);
  return client;
}

async function sessionCount(user: string): Promise<number> {
  return withAdmin(async (admin) => {
    const { rows } = await admin.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1',
      [user],
    );
    return rows[0].n;
  });
}

describe('setAppLogin', () => {
  it('revokes memberships granted by hand to the app role and both logins, and returns them', async () => {
    const { t, a, b } = await tenant();
    await withAdmin(async (admin) => {
      await admin.query(`GRANT pg_read_all_data TO "${a}", "${t.appRole}"`);
    });

    const { revokedMemberships } = await setAppLogin(ownerEndpoint(t), {
      group: t.appRole,
      login: b,
      password: 'second-password',
    });

    expect(revokedMemberships).toEqual([
      { member: t.appRole, role: 'pg_read_all_data' },
      { member: a, role: 'pg_read_all_data' },
    ]);
    const granted = await withAdmin(async (admin) => {
      const { rows } = await admin.query<{ member: string; role: string }>(
        `SELECT r.rolname AS member, g.rolname AS role
           FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member
          WHERE r.rolname = ANY($1) ORDER BY 1, 2`,
        [[t.appRole, a, b]],
      );
      return rows;
    });
    expect(granted).toEqual([
      { member: a, role: t.appRole },
      { member: b, role: t.appRole },
    ]);
  });
});

describe('terminateSessions', () => {
  it("ends a retired login's open sessions: their next query fails, other roles' sessions go on", async () => {
    const { t, a, b } = await tenant();
    const old = await session(t.database, a, t.appPassword);
    await old.query('SELECT count(*) FROM app.notes');
    await setAppLogin(ownerEndpoint(t), { group: t.appRole, login: b, password: 'second-password' });
    const current = await session(t.database, b, 'second-password');
    const owner = await session(t.database, t.ownerRole, t.ownerPassword);

    await retireAppLogin(ownerEndpoint(t), { group: t.appRole, login: a });
    // NOLOGIN alone leaves the session running with the app role's rights.
    await old.query(`INSERT INTO app.notes (text) VALUES ('still here')`);

    expect(await terminateSessions(ownerEndpoint(t), { user: a })).toEqual({ terminated: 1, remaining: 0 });

    await expect(old.query('SELECT count(*) FROM app.notes')).rejects.toThrow();
    expect(await sessionCount(a)).toBe(0);
    await current.query('SELECT count(*) FROM app.notes');
    await owner.query('SELECT 1');
    expect(await terminateSessions(ownerEndpoint(t), { user: a })).toEqual({ terminated: 0, remaining: 0 });
  });

  it("ends the owner's sessions begun before the cut-off, never the caller's own or later ones", async () => {
    const { t } = await tenant();
    const before = await session(t.database, t.ownerRole, t.ownerPassword);
    const { rows } = await before.query<{ at: Date }>('SELECT clock_timestamp() AS at');
    const after = await session(t.database, t.ownerRole, t.ownerPassword);

    // The caller's session is the owner's too, and begins after the cut-off: it is never counted.
    const result = await terminateSessions(ownerEndpoint(t), {
      user: t.ownerRole,
      startedBefore: rows[0].at,
    });

    expect(result).toEqual({ terminated: 1, remaining: 0 });
    await expect(before.query('SELECT 1')).rejects.toThrow();
    await after.query('SELECT 1');
    expect(await sessionCount(t.ownerRole)).toBe(1);
  });

  it("gives a rotation's login its tenant and schema as role defaults, also where the group had none", async () => {
    const t = newTestTenant(tenants);
    const [a, b] = appLoginRoles(t.appRole);
    extraRoles.push(a, b);
    await materialiseLocalInstance(adminUrl, t);
    await applyBuiltInSchema(ownerEndpoint(t));
    // Bootstrapped without a tenant, as tenants were before role defaults.
    await bootstrapAppRole(ownerEndpoint(t), { role: t.appRole, login: a, password: t.appPassword });
    await setAppLogin(ownerEndpoint(t), {
      group: t.appRole,
      login: b,
      password: `${t.appPassword}-b`,
      defaults: { schema: 'app', tenantId: t.tenantId },
    });
    const client = await session(t.database, b, `${t.appPassword}-b`);
    expect(
      (await client.query(`SELECT current_setting('app.tenant_id') AS t, current_schema() AS s`)).rows,
    ).toEqual([{ t: t.tenantId, s: 'app' }]);
    await client.query(`INSERT INTO notes (text) VALUES ('mine')`);
    expect((await client.query('SELECT tenant_id FROM notes')).rows).toEqual([{ tenant_id: t.tenantId }]);
  });

  it('never ends its own session, even with no cut-off', async () => {
    const { t } = await tenant();
    const other = await session(t.database, t.ownerRole, t.ownerPassword);

    expect(await terminateSessions(ownerEndpoint(t), { user: t.ownerRole })).toEqual({
      terminated: 1,
      remaining: 0,
    });
    await expect(other.query('SELECT 1')).rejects.toThrow();
  });
});
