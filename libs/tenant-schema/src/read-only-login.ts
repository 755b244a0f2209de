import { quoteIdentifier } from '@silo/core';
import type { Client } from 'pg';
import { inLockedTransaction, pgClientConfig, sqlState, withPgClient, type PgEndpoint } from './pg-endpoint';
import { setRoleDefaults } from './placements/role-defaults';
import { assertUnprivileged, assertUsablePassword, connectionLimitSql, findRole } from './role-attributes';
import { revokeForeignMemberships } from './role-memberships';
import { terminateSessions } from './role-sessions';
import { scramSha256Verifier } from './scram-verifier';

/** A login that can read one tenant's schema and nothing else (a restored copy's, for instance). */
export interface ReadOnlyLoginSpec {
  role: string;
  password: string;
  /** The schema it reads: USAGE on it, SELECT on its tables and sequences, its `search_path`. */
  schema: string;
  /** Its `app.tenant_id` role default: the tenant whose rows row-level security shows it. */
  tenantId: string;
  /** CONNECTION LIMIT of the role. Default 5. */
  connectionLimit?: number;
}

/** What {@link ensureReadOnlyLogin} could not give the login. */
export interface ReadOnlyLoginResult {
  /**
   * Whether the login carries `app.tenant_id` as a role default: false where the owner may not
   * set that parameter (see setRoleDefaults); its sessions then see no rows until they set it.
   */
  tenantSettingAsDefault: boolean;
}

const APPLICATION_NAME = 'silo-read-only-login';
// The app roles' key: both converge grants on the same database and schema ACLs.
const ROLE_LOCK_KEY = 'silo:tenant-app-role';
const DEFAULT_CONNECTION_LIMIT = 5;
const DUPLICATE_OBJECT = '42710';
const UNIQUE_VIOLATION = '23505';

/**
 * As the database owner (`owner`, at `endpoint`'s host, port and database; CREATEROLE is
 * enough): creates or converges `spec.role`, a LOGIN role (SCRAM verifier, never the plaintext)
 * that can only read: `default_transaction_read_only = on`, `search_path` and `app.tenant_id` as
 * role defaults, CONNECT to this database, USAGE on the schema and SELECT on the tables and
 * sequences it holds now (a re-run covers tables added since), no membership in any role. Its
 * sessions may turn read-only transactions off, but lacking every write privilege they still
 * cannot write (42501). Idempotent; a re-run sets the given password and removes privileges and
 * memberships added by hand. Concurrent runs take turns (advisory lock), and a role created
 * meanwhile from another database is converged.
 */
export async function ensureReadOnlyLogin(
  endpoint: PgEndpoint,
  owner: { username: string; password: string },
  spec: ReadOnlyLoginSpec,
): Promise<ReadOnlyLoginResult> {
  const database = quoteIdentifier(endpoint.database, 'database name');
  const role = quoteIdentifier(spec.role, 'read-only role');
  const schema = quoteIdentifier(spec.schema, 'schema name');
  const limit = connectionLimitSql(
    spec.connectionLimit ?? DEFAULT_CONNECTION_LIMIT,
    'read-only role connection limit',
  );
  assertUsablePassword(spec.password, 'read-only role password');
  if (spec.role === owner.username) throw new Error('the read-only role must not be the owner role');

  const config = pgClientConfig(
    { ...endpoint, user: owner.username, password: owner.password },
    APPLICATION_NAME,
  );
  return withPgClient(config, (client) =>
    inLockedTransaction(client, ROLE_LOCK_KEY, async () => {
      // A verifier, not the password: the plaintext never reaches the server (logs, pg_stat_activity).
      const password = client.escapeLiteral(scramSha256Verifier(spec.password));
      const created = await createRole(
        client,
        spec.role,
        `CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION ` +
          `CONNECTION LIMIT ${limit} PASSWORD ${password}`,
      );
      if (!created) {
        const existing = await findRole(client, spec.role);
        if (existing === undefined)
          throw new Error(`read-only role ${spec.role} vanished while converging it`);
        // NOSUPERUSER/NOREPLICATION are left out: a non-superuser may not name them in ALTER ROLE.
        assertUnprivileged(existing, spec.role, 'read-only role');
        await client.query(
          `ALTER ROLE ${role} LOGIN NOCREATEDB NOCREATEROLE NOINHERIT CONNECTION LIMIT ${limit} PASSWORD ${password}`,
        );
      }
      // Each grant is preceded by revoking everything, so a re-run also removes privileges added by hand.
      const statements = [
        `REVOKE ALL ON DATABASE ${database} FROM PUBLIC`,
        `REVOKE ALL ON DATABASE ${database} FROM ${role}`,
        `GRANT CONNECT ON DATABASE ${database} TO ${role}`,
        // Before PostgreSQL 15 PUBLIC may CREATE in schema public.
        `REVOKE ALL ON SCHEMA public FROM PUBLIC`,
        `REVOKE ALL ON SCHEMA public FROM ${role}`,
        `REVOKE ALL ON SCHEMA ${schema} FROM ${role}`,
        `GRANT USAGE ON SCHEMA ${schema} TO ${role}`,
        `REVOKE ALL ON ALL TABLES IN SCHEMA ${schema} FROM ${role}`,
        `GRANT SELECT ON ALL TABLES IN SCHEMA ${schema} TO ${role}`,
        `REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${schema} FROM ${role}`,
        // SELECT reads a sequence (and currval); nextval would take USAGE or UPDATE.
        `GRANT SELECT ON ALL SEQUENCES IN SCHEMA ${schema} TO ${role}`,
        `ALTER ROLE ${role} SET default_transaction_read_only = on`,
      ];
      for (const statement of statements) await client.query(statement);
      const tenantSettingAsDefault = await setRoleDefaults(client, [spec.role], {
        schema: spec.schema,
        tenantId: spec.tenantId,
      });
      // pg_write_all_data, the app role, … granted by hand would give back what it must not have.
      await revokeForeignMemberships(client, spec.role, []);
      return { tenantSettingAsDefault };
    }),
  );
}

/**
 * As the database owner: `role` can no longer log in, its sessions (on every database of the
 * server) are ended, everything granted to it here is revoked and it is dropped. Idempotent: a
 * missing role is done.
 */
export async function dropReadOnlyLogin(
  endpoint: PgEndpoint,
  owner: { username: string; password: string },
  role: string,
): Promise<void> {
  const quotedRole = quoteIdentifier(role, 'read-only role');
  const ownerRole = quoteIdentifier(owner.username, 'owner role');
  if (role === owner.username) throw new Error('the read-only role must not be the owner role');
  const asOwner = { ...endpoint, user: owner.username, password: owner.password };
  const config = pgClientConfig(asOwner, APPLICATION_NAME);

  // Committed before the sessions are ended, so that none opens meanwhile.
  const found = await withPgClient(config, (client) =>
    inLockedTransaction(client, ROLE_LOCK_KEY, async () => {
      const existing = await findRole(client, role);
      if (existing === undefined) return false;
      assertUnprivileged(existing, role, 'read-only role');
      await client.query(`ALTER ROLE ${quotedRole} NOLOGIN PASSWORD NULL`);
      return true;
    }),
  );
  if (!found) return;
  await terminateSessions(asOwner, { user: role });
  await withPgClient(config, (client) =>
    inLockedTransaction(client, ROLE_LOCK_KEY, async () => {
      if ((await findRole(client, role)) === undefined) return;
      // DROP OWNED requires the privileges of the role; CREATEROLE alone (the RDS master user)
      // does not give them, membership does.
      await client.query(`GRANT ${quotedRole} TO ${ownerRole}`);
      await client.query(`REASSIGN OWNED BY ${quotedRole} TO ${ownerRole}`);
      await client.query(`DROP OWNED BY ${quotedRole}`);
      await client.query(`DROP ROLE IF EXISTS ${quotedRole}`);
    }),
  );
}

/**
 * Takes LOGIN from `roles` that exist here and ends their sessions: a restored copy's database
 * holds the tenant's own app logins as they were, which must not open it (its read-only login
 * does). Connected as the owner (the RDS master user); a role that is missing is done.
 * Idempotent.
 */
export async function disableLogins(
  endpoint: PgEndpoint,
  owner: { username: string; password: string },
  roles: readonly string[],
): Promise<void> {
  const asOwner = { ...endpoint, user: owner.username, password: owner.password };
  const disabled: string[] = [];
  await withPgClient(pgClientConfig(asOwner, APPLICATION_NAME), async (client) => {
    for (const role of roles) {
      const quoted = quoteIdentifier(role, 'login role');
      if (role === owner.username) throw new Error('the owner role must keep its login');
      const existing = await findRole(client, role);
      if (existing === undefined) continue;
      assertUnprivileged(existing, role, 'login role');
      await client.query(`ALTER ROLE ${quoted} NOLOGIN`);
      disabled.push(role);
    }
  });
  for (const role of disabled) await terminateSessions(asOwner, { user: role });
}

/**
 * Runs `create` (a CREATE ROLE) in a savepoint: false when the role already exists, or was
 * created meanwhile by a caller holding another database's lock (roles belong to the server).
 */
async function createRole(client: Client, name: string, create: string): Promise<boolean> {
  if ((await findRole(client, name)) !== undefined) return false;
  await client.query('SAVEPOINT silo_create_role');
  try {
    await client.query(create);
    await client.query('RELEASE SAVEPOINT silo_create_role');
    return true;
  } catch (error) {
    if (sqlState(error) !== DUPLICATE_OBJECT && sqlState(error) !== UNIQUE_VIOLATION) throw error;
    await client.query('ROLLBACK TO SAVEPOINT silo_create_role');
    return false;
  }
}
