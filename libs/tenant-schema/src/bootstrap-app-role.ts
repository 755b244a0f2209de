import { scramSha256Verifier } from './scram-verifier';
import { quoteIdentifier } from '@silo/core';
import { appLoginRoles, convergeAppLogin, revokeAppRoleMemberships, type AppRolesResult } from './app-logins';
import { inLockedTransaction, pgClientConfig, withPgClient, type PgEndpoint } from './pg-endpoint';
import { assertUnprivileged, assertUsablePassword, connectionLimitSql, findRole } from './role-attributes';
import { setRoleDefaults } from './placements/role-defaults';

/** The tenant application's role. */
export interface AppRoleSpec {
  /** The app role, which holds every grant. */
  role: string;
  /**
   * The login the application uses: one of {@link appLoginRoles}(`role`), made a LOGIN INHERIT
   * member of `role` with `password`, while `role` itself is NOLOGIN without a password (and the
   * other login, if it exists, too). Default: none, `role` logs in itself with `password` (the
   * scheme of tenants provisioned before the alternating logins).
   */
  login?: string;
  password: string;
  /** The one schema the role may read and write. Default `app`. */
  schema?: string;
  /** CONNECTION LIMIT of the role. Default -1 (none). */
  connectionLimit?: number;
  /**
   * The tenant whose rows the role reaches (instance and schema placements): its logins carry
   * `app.tenant_id` as a role default, as they carry `search_path` = `schema`. Absent for the
   * shared login of a pool database, which the router sets per transaction.
   */
  tenantId?: string;
}

const APPLICATION_NAME = 'silo-tenant-bootstrap';
const ROLE_LOCK_KEY = 'silo:tenant-app-role';

/**
 * Creates (or converges) the tenant application's role as the database owner: no CREATE
 * anywhere, CONNECT to this database alone, USAGE on the app schema and DML on its tables and
 * sequences, present and future (tables created later by the owner), and the login that uses it
 * (`app.login`, or the role itself). Memberships in other roles granted to the app roles by hand
 * are revoked and returned. Idempotent; a re-run sets the given password, so a run cut short by a
 * crash converges on the next one. Runs in one transaction under an advisory lock, so concurrent
 * runs are safe.
 */
export async function bootstrapAppRole(owner: PgEndpoint, app: AppRoleSpec): Promise<AppRolesResult> {
  const database = quoteIdentifier(owner.database, 'database name');
  const ownerRole = quoteIdentifier(owner.user, 'owner role');
  const role = quoteIdentifier(app.role, 'app role');
  const schema = quoteIdentifier(app.schema ?? 'app', 'schema name');
  const limit = connectionLimitSql(app.connectionLimit, 'app role connection limit');
  assertUsablePassword(app.password, 'app role password');
  if (app.role === owner.user) throw new Error('the app role must not be the owner role');
  const login = app.login;
  if (login !== undefined) {
    quoteIdentifier(login, 'app login role');
    if (login === owner.user) throw new Error('the app roles must not be the owner');
    if (!appLoginRoles(app.role).includes(login))
      throw new Error(`${login} is not one of the login roles of ${app.role}`);
  }

  return withPgClient(pgClientConfig(owner, APPLICATION_NAME), (client) =>
    inLockedTransaction(client, ROLE_LOCK_KEY, async () => {
      // A verifier, not the password: the plaintext never reaches the server (logs, pg_stat_activity).
      const password = login ? 'NULL' : client.escapeLiteral(scramSha256Verifier(app.password));
      const canLogin = login ? 'NOLOGIN' : 'LOGIN';
      const existing = await findRole(client, app.role);
      if (existing === undefined) {
        await client.query(
          `CREATE ROLE ${role} ${canLogin} NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION ` +
            `CONNECTION LIMIT ${limit} PASSWORD ${password}`,
        );
      } else {
        // NOSUPERUSER/NOREPLICATION are left out: a non-superuser may not name them in ALTER ROLE.
        assertUnprivileged(existing, app.role, 'app role');
        await client.query(
          `ALTER ROLE ${role} ${canLogin} NOCREATEDB NOCREATEROLE NOINHERIT CONNECTION LIMIT ${limit} PASSWORD ${password}`,
        );
      }
      if (login) {
        await convergeAppLogin(client, { group: app.role, login, password: app.password }, limit);
        for (const other of appLoginRoles(app.role).filter((name) => name !== login)) {
          const found = await findRole(client, other);
          if (found === undefined) continue;
          assertUnprivileged(found, other, 'app login role');
          await client.query(`ALTER ROLE ${quoteIdentifier(other, 'app login role')} NOLOGIN PASSWORD NULL`);
        }
      }
      // Each grant is preceded by revoking everything, so a re-run also removes privileges added by hand.
      const statements = [
        `REVOKE ALL ON DATABASE ${database} FROM PUBLIC`,
        `REVOKE ALL ON DATABASE ${database} FROM ${role}`,
        `GRANT CONNECT ON DATABASE ${database} TO ${role}`,
        `REVOKE ALL ON SCHEMA public FROM PUBLIC`,
        `REVOKE ALL ON SCHEMA public FROM ${role}`,
        `CREATE SCHEMA IF NOT EXISTS ${schema}`,
        `REVOKE ALL ON SCHEMA ${schema} FROM ${role}`,
        `GRANT USAGE ON SCHEMA ${schema} TO ${role}`,
        `REVOKE ALL ON ALL TABLES IN SCHEMA ${schema} FROM ${role}`,
        `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO ${role}`,
        `REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${schema} FROM ${role}`,
        `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${schema} TO ${role}`,
        `ALTER DEFAULT PRIVILEGES FOR ROLE ${ownerRole} IN SCHEMA ${schema} REVOKE ALL ON TABLES FROM ${role}`,
        `ALTER DEFAULT PRIVILEGES FOR ROLE ${ownerRole} IN SCHEMA ${schema} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${role}`,
        `ALTER DEFAULT PRIVILEGES FOR ROLE ${ownerRole} IN SCHEMA ${schema} REVOKE ALL ON SEQUENCES FROM ${role}`,
        `ALTER DEFAULT PRIVILEGES FOR ROLE ${ownerRole} IN SCHEMA ${schema} GRANT USAGE, SELECT ON SEQUENCES TO ${role}`,
      ];
      for (const statement of statements) await client.query(statement);
      // On the group too: a login made later (a rotation's) copies them from it.
      const logins = [app.role];
      for (const name of appLoginRoles(app.role))
        if ((await findRole(client, name)) !== undefined) logins.push(name);
      const tenantSettingAsDefault = await setRoleDefaults(client, logins, {
        schema: app.schema ?? 'app',
        tenantId: app.tenantId,
      });
      return { revokedMemberships: await revokeAppRoleMemberships(client, app.role), tenantSettingAsDefault };
    }),
  );
}

/**
 * Drops the app role and everything granted to it in the owner's database (compensation).
 * Idempotent: a missing role is done.
 */
export async function dropAppRole(owner: PgEndpoint, role: string): Promise<void> {
  const ownerRole = quoteIdentifier(owner.user, 'owner role');
  const quotedRole = quoteIdentifier(role, 'app role');
  if (role === owner.user) throw new Error('the app role must not be the owner role');

  await withPgClient(pgClientConfig(owner, APPLICATION_NAME), (client) =>
    inLockedTransaction(client, ROLE_LOCK_KEY, async () => {
      if ((await findRole(client, role)) === undefined) return;
      // REASSIGN OWNED and DROP OWNED require the privileges of the role; CREATEROLE alone
      // (the RDS master user) does not give them, membership does.
      await client.query(`GRANT ${quotedRole} TO ${ownerRole}`);
      await client.query(`REASSIGN OWNED BY ${quotedRole} TO ${ownerRole}`);
      await client.query(`DROP OWNED BY ${quotedRole}`);
      await client.query(`DROP ROLE IF EXISTS ${quotedRole}`);
    }),
  );
}
