import type { Client } from 'pg';
import { scramSha256Verifier } from './scram-verifier';
import { quoteIdentifier } from '@silo/core';
import { DEFAULT_CONNECT_TIMEOUT_MS, sqlState, withPgClient } from './pg-endpoint';
import { assertUnprivileged, assertUsablePassword, connectionLimitSql, findRole } from './role-attributes';

/** A tenant instance emulated on a shared local PostgreSQL server: a database and its owner role. */
export interface LocalInstance {
  database: string;
  /** Plays the RDS master user: LOGIN CREATEROLE, a member of pg_signal_backend, owns the database. */
  ownerRole: string;
  ownerPassword: string;
  /** CONNECTION LIMIT of the database, standing in for the instance's max_connections. Default -1 (none). */
  connectionLimit?: number;
}

const APPLICATION_NAME = 'silo-local-instances';
const PARAMETER_ACL_LOCK = 'silo:local-instance:parameter-acl';
const DUPLICATE_DATABASE = '42P04';
const UNIQUE_VIOLATION = '23505';
const DUPLICATE_OBJECT = '42710';

function adminClientConfig(adminUrl: string) {
  return {
    connectionString: adminUrl,
    connectionTimeoutMillis: DEFAULT_CONNECT_TIMEOUT_MS,
    application_name: APPLICATION_NAME,
  };
}

/**
 * Creates the instance's owner role and database on the server behind `adminUrl` (a role with
 * CREATEROLE and CREATEDB, normally a superuser), or converges them: the owner's password is set
 * to `ownerPassword` every time, so the password in the master secret always opens it. Only the
 * owner may connect to the database. Idempotent and safe to call concurrently.
 */
export async function materialiseLocalInstance(adminUrl: string, instance: LocalInstance): Promise<void> {
  const database = quoteIdentifier(instance.database, 'database name');
  const owner = quoteIdentifier(instance.ownerRole, 'owner role');
  const limit = connectionLimitSql(instance.connectionLimit, 'database connection limit');
  assertUsablePassword(instance.ownerPassword, 'owner password');

  await withPgClient(adminClientConfig(adminUrl), async (client) => {
    // Session-level (CREATE DATABASE cannot run in a transaction); ending the client releases it.
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`silo:local-instance:${instance.database}`]);
    // A verifier, not the password: the plaintext never reaches the server (logs, pg_stat_activity).
    const password = client.escapeLiteral(scramSha256Verifier(instance.ownerPassword));

    const existing = await findRole(client, instance.ownerRole);
    let created = false;
    if (existing === undefined) {
      try {
        await client.query(
          `CREATE ROLE ${owner} LOGIN CREATEROLE NOSUPERUSER NOCREATEDB PASSWORD ${password}`,
        );
        created = true;
      } catch (error) {
        // Created meanwhile by a caller that does not share our lock (another admin database).
        if (sqlState(error) !== DUPLICATE_OBJECT && sqlState(error) !== UNIQUE_VIOLATION) throw error;
      }
    } else {
      assertUnprivileged(existing, instance.ownerRole, 'owner role');
    }
    if (!created) await client.query(`ALTER ROLE ${owner} LOGIN CREATEROLE NOCREATEDB PASSWORD ${password}`);
    // As rds_superuser gives the RDS master user: it may end other roles' sessions (a rotation
    // terminates those of a retired app login). Superusers' sessions stay out of its reach.
    await client.query(`GRANT pg_signal_backend TO ${owner}`);
    // It sets app.tenant_id as its tenants' logins' role default, which PostgreSQL 15 and later
    // allow a non-superuser only with this grant (on RDS, where the master user is not a
    // superuser, the router sends the setting at connection start if the owner is refused).
    const version = await client.query<{ v: number }>(
      `SELECT current_setting('server_version_num')::int AS v`,
    );
    if ((version.rows[0]?.v ?? 0) >= 150000)
      await underParameterLock(client, `GRANT SET ON PARAMETER app.tenant_id TO ${owner}`);

    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [instance.database]);
    if (!found.rowCount) {
      try {
        await client.query(`CREATE DATABASE ${database} OWNER ${owner}`);
      } catch (error) {
        // 42P04, or 23505 when two CREATE DATABASE statements ran at the same moment.
        if (sqlState(error) !== DUPLICATE_DATABASE && sqlState(error) !== UNIQUE_VIOLATION) throw error;
      }
    }
    await client.query(`ALTER DATABASE ${database} CONNECTION LIMIT ${limit}`);
    await client.query(`REVOKE ALL ON DATABASE ${database} FROM PUBLIC`);
    await client.query(`GRANT CONNECT ON DATABASE ${database} TO ${owner}`);
  });
}

/**
 * Drops the instance's database (disconnecting its sessions) and then the given roles, in order:
 * list app roles before the owner. Idempotent. Every name is checked before anything is dropped.
 */
export async function removeLocalInstance(
  adminUrl: string,
  instance: { database: string; roles: string[] },
): Promise<void> {
  const database = quoteIdentifier(instance.database, 'database name');
  const roles = instance.roles.map((role) => quoteIdentifier(role, 'role'));

  await withPgClient(adminClientConfig(adminUrl), async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    const version = await client.query<{ v: number }>(
      `SELECT current_setting('server_version_num')::int AS v`,
    );
    for (const [i, role] of roles.entries()) {
      const found = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [instance.roles[i]]);
      if (!found.rowCount) continue;
      // The owner's SET privilege on app.tenant_id (materialiseLocalInstance) would block DROP ROLE.
      if ((version.rows[0]?.v ?? 0) >= 150000)
        await underParameterLock(client, `REVOKE ALL ON PARAMETER app.tenant_id FROM ${role}`);
      await client.query(`DROP ROLE IF EXISTS ${role}`);
    }
  });
}

/**
 * Runs a GRANT or REVOKE on the server's one parameter ACL row for app.tenant_id, one caller at a
 * time: concurrent ones fail with "tuple concurrently updated".
 */
export async function underParameterLock(client: Client, statement: string): Promise<void> {
  await client.query('SELECT pg_advisory_lock(hashtext($1))', [PARAMETER_ACL_LOCK]);
  try {
    await client.query(statement);
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [PARAMETER_ACL_LOCK]);
  }
}

const OBJECT_IN_USE = '55006';

/**
 * Renames an instance's database from `from` to `to` (what RDS's rename of an instance is to the
 * local backend), ending the sessions in it first: PostgreSQL renames only a database nobody is
 * connected to. Idempotent: `from` gone and `to` there is done. Both there, or neither, is an
 * error naming them; nothing is renamed onto an existing database.
 */
export async function renameLocalInstance(
  adminUrl: string,
  spec: { from: string; to: string },
): Promise<void> {
  const from = quoteIdentifier(spec.from, 'database name');
  const to = quoteIdentifier(spec.to, 'database name');
  await withPgClient(adminClientConfig(adminUrl), async (client) => {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`silo:local-instance:${spec.from}`]);
    const exists = async (name: string) =>
      Boolean((await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount);
    for (let attempt = 1; ; attempt++) {
      const [hasFrom, hasTo] = [await exists(spec.from), await exists(spec.to)];
      if (!hasFrom && hasTo) return;
      if (hasFrom === hasTo)
        throw new Error(
          hasFrom
            ? `cannot rename database ${spec.from} to ${spec.to}: ${spec.to} exists`
            : `cannot rename database ${spec.from} to ${spec.to}: neither exists`,
        );
      await client.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [spec.from],
      );
      try {
        await client.query(`ALTER DATABASE ${from} RENAME TO ${to}`);
        return;
      } catch (error) {
        // A session connected between the two statements: end it and try again.
        if (sqlState(error) !== OBJECT_IN_USE || attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  });
}

/**
 * Gives an instance's database, and everything in it that `previousOwner` owns, to an owner role
 * of its own (made or converged as {@link materialiseLocalInstance} does), so that the database
 * can be handed to another login without the previous owner's password: what a new master
 * password is on RDS, where an instance's master user is its own. Objects in other databases,
 * and the previous owner's other databases, are untouched (REASSIGN OWNED would take them too).
 * Idempotent.
 */
export async function handOverLocalInstance(
  adminUrl: string,
  instance: LocalInstance & { previousOwner: string },
): Promise<void> {
  quoteIdentifier(instance.previousOwner, 'previous owner role');
  await materialiseLocalInstance(adminUrl, instance);
  const owner = quoteIdentifier(instance.ownerRole, 'owner role');
  const database = quoteIdentifier(instance.database, 'database name');
  await withPgClient(adminClientConfig(adminUrl), async (client) => {
    await client.query(`ALTER DATABASE ${database} OWNER TO ${owner}`);
    // Only the new owner connects: the logins the previous owner's tenant had open other databases.
    const grantees = await client.query<{ rolname: string }>(
      `SELECT DISTINCT r.rolname FROM pg_database d, aclexplode(d.datacl) a JOIN pg_roles r ON r.oid = a.grantee
        WHERE d.datname = $1 AND a.grantee <> d.datdba`,
      [instance.database],
    );
    for (const { rolname } of grantees.rows)
      await client.query(`REVOKE ALL ON DATABASE ${database} FROM ${quoteIdentifier(rolname, 'role')}`);
  });
  const url = new URL(adminUrl);
  url.pathname = `/${encodeURIComponent(instance.database)}`;
  await withPgClient(adminClientConfig(url.toString()), async (client) => {
    // Tables, views and sequences of their own (ALTER TABLE takes each; a sequence a table owns
    // follows its table), routines, types that are not a table's row type, schemas.
    await client.query(
      `DO $$
       DECLARE r record;
       BEGIN
         FOR r IN SELECT c.oid::regclass AS name FROM pg_class c
                   WHERE c.relowner = $1::regrole AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
                     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                       AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
         LOOP EXECUTE format('ALTER TABLE %s OWNER TO %I', r.name, $2); END LOOP;
         FOR r IN SELECT p.oid::regprocedure AS name FROM pg_proc p WHERE p.proowner = $1::regrole
         LOOP EXECUTE format('ALTER ROUTINE %s OWNER TO %I', r.name, $2); END LOOP;
         FOR r IN SELECT t.oid::regtype AS name FROM pg_type t
                   WHERE t.typowner = $1::regrole AND t.typtype IN ('e', 'd', 'r', 'm')
         LOOP EXECUTE format('ALTER TYPE %s OWNER TO %I', r.name, $2); END LOOP;
         FOR r IN SELECT n.nspname FROM pg_namespace n WHERE n.nspowner = $1::regrole
         LOOP EXECUTE format('ALTER SCHEMA %I OWNER TO %I', r.nspname, $2); END LOOP;
       END $$`
        .replaceAll('$1', client.escapeLiteral(instance.previousOwner))
        .replaceAll('$2', client.escapeLiteral(instance.ownerRole)),
    );
  });
}
