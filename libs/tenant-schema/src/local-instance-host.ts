import type { Client } from 'pg';
import { scramSha256Verifier } from './scram-verifier';
import { quoteIdentifier } from '@silo/core';
import { DEFAULT_CONNECT_TIMEOUT_MS, inLockedTransaction, sqlState, withPgClient } from './pg-endpoint';
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
 * Gives an instance's database, and everything in it, to an owner role of its own (made or
 * converged as {@link materialiseLocalInstance} does), so that the database can be handed to
 * another login without the previous owner's password: what a new master password is on RDS,
 * where an instance's master user is its own. Inside the database nothing depends on another
 * role any more (see {@link releaseForeignRoles}): the previous owner and its tenant's logins can
 * be dropped while the database lives on. Objects in other databases, the previous owner's
 * other databases and what it holds on shared objects (its parameter privilege) are untouched:
 * REASSIGN OWNED and DROP OWNED would take those too. Idempotent.
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
  await withPgClient(adminClientConfig(url.toString()), (client) =>
    inLockedTransaction(client, `silo:local-instance:${instance.database}`, () =>
      releaseForeignRoles(client, instance.ownerRole),
    ),
  );
}

/**
 * The roles (bound to `$1`: every one but the owner) something in the current database depends on;
 * the server's superusers and its own roles (pg_*) are left alone.
 */
const FOREIGN_ROLES = `SELECT DISTINCT s.refobjid FROM pg_shdepend s JOIN pg_roles r ON r.oid = s.refobjid
   WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
     AND s.refclassid = 'pg_authid'::regclass AND r.rolname <> $1 AND NOT r.rolsuper AND r.oid >= 16384`;

/**
 * What REASSIGN OWNED and DROP OWNED do for every role but `owner` (and the server's superusers
 * and own roles), in the current database only, as a superuser: what they own becomes `owner`'s,
 * what is granted to them (or by them) is revoked, their default privileges and the default
 * privileges naming them go, policies name them no more (a policy for them alone is dropped).
 * Read from pg_shdepend, which records every such dependency; an extension's owner stays (no
 * statement changes it).
 */
async function releaseForeignRoles(client: Client, owner: string): Promise<void> {
  const statements = async (sql: string) =>
    (await client.query<{ statement: string | null }>(sql, [owner])).rows
      .map((r) => r.statement)
      .filter((s): s is string => s !== null);
  const run = async (list: string[]) => {
    for (const statement of list) await client.query(statement);
  };
  // Ownership: a table's sequences, indexes, row type and TOAST table follow it; an array type its element.
  await run(
    await statements(
      `WITH foreign_roles AS (${FOREIGN_ROLES})
       SELECT CASE s.classid
         WHEN 'pg_class'::regclass THEN CASE
           WHEN c.relkind = 'c' THEN format('ALTER TYPE %s OWNER TO %I', c.reltype::regtype, $1)
           WHEN c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND NOT EXISTS (
             SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
             THEN format('ALTER TABLE %s OWNER TO %I', c.oid::regclass, $1) END
         WHEN 'pg_proc'::regclass THEN format('ALTER ROUTINE %s OWNER TO %I', s.objid::regprocedure, $1)
         WHEN 'pg_type'::regclass THEN format('ALTER TYPE %s OWNER TO %I', s.objid::regtype, $1)
         WHEN 'pg_namespace'::regclass THEN format('ALTER SCHEMA %s OWNER TO %I', s.objid::regnamespace, $1)
         WHEN 'pg_largeobject'::regclass THEN format('ALTER LARGE OBJECT %s OWNER TO %I', s.objid, $1)
         WHEN 'pg_default_acl'::regclass THEN NULL
         WHEN 'pg_extension'::regclass THEN NULL
         ELSE (SELECT format('ALTER %s %s OWNER TO %I',
                 CASE o.type WHEN 'foreign-data wrapper' THEN 'FOREIGN DATA WRAPPER'
                   WHEN 'statistics object' THEN 'STATISTICS' ELSE upper(o.type) END, o.identity, $1)
                 FROM pg_identify_object(s.classid, s.objid, 0) o)
       END AS statement
       FROM pg_shdepend s LEFT JOIN pg_class c ON s.classid = 'pg_class'::regclass AND c.oid = s.objid
      WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND s.deptype = 'o' AND s.refobjid IN (SELECT refobjid FROM foreign_roles)
      ORDER BY s.classid, s.objid`,
    ),
  );
  // Privileges granted to them; CASCADE takes what they granted on with them.
  await run(
    await statements(
      `WITH foreign_roles AS (${FOREIGN_ROLES})
       SELECT DISTINCT CASE s.classid
         WHEN 'pg_class'::regclass THEN format('REVOKE ALL ON %s %s FROM %s CASCADE',
           CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.oid::regclass, r.oid::regrole)
         WHEN 'pg_proc'::regclass THEN format('REVOKE ALL ON ROUTINE %s FROM %s CASCADE', s.objid::regprocedure, r.oid::regrole)
         WHEN 'pg_type'::regclass THEN format('REVOKE ALL ON TYPE %s FROM %s CASCADE', s.objid::regtype, r.oid::regrole)
         WHEN 'pg_namespace'::regclass THEN format('REVOKE ALL ON SCHEMA %s FROM %s CASCADE', s.objid::regnamespace, r.oid::regrole)
         WHEN 'pg_largeobject'::regclass THEN format('REVOKE ALL ON LARGE OBJECT %s FROM %s CASCADE', s.objid, r.oid::regrole)
         WHEN 'pg_language'::regclass THEN (SELECT format('REVOKE ALL ON LANGUAGE %I FROM %s CASCADE', lanname, r.oid::regrole) FROM pg_language WHERE oid = s.objid)
         WHEN 'pg_foreign_data_wrapper'::regclass THEN (SELECT format('REVOKE ALL ON FOREIGN DATA WRAPPER %I FROM %s CASCADE', fdwname, r.oid::regrole) FROM pg_foreign_data_wrapper WHERE oid = s.objid)
         WHEN 'pg_foreign_server'::regclass THEN (SELECT format('REVOKE ALL ON FOREIGN SERVER %I FROM %s CASCADE', srvname, r.oid::regrole) FROM pg_foreign_server WHERE oid = s.objid)
       END AS statement
       FROM pg_shdepend s JOIN pg_roles r ON r.oid = s.refobjid
       LEFT JOIN pg_class c ON s.classid = 'pg_class'::regclass AND c.oid = s.objid
      WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND s.deptype = 'a' AND s.refobjid IN (SELECT refobjid FROM foreign_roles)`,
    ),
  );
  // Default privileges: theirs revoked down to the built-in defaults (the entry then goes), and
  // everyone else's to them. Schemas' entries default to nothing, a role's global ones to its
  // own privileges (and PUBLIC's EXECUTE on functions, USAGE on types).
  await run(
    await statements(
      `WITH foreign_roles AS (${FOREIGN_ROLES}),
       entries AS (
         SELECT d.defaclrole, d.defaclnamespace, d.defaclobjtype, a.grantee,
                d.defaclrole IN (SELECT refobjid FROM foreign_roles) AS theirs,
                format('ALTER DEFAULT PRIVILEGES FOR ROLE %s%s', d.defaclrole::regrole,
                  CASE WHEN d.defaclnamespace = 0 THEN '' ELSE format(' IN SCHEMA %s', d.defaclnamespace::regnamespace) END) AS prefix,
                CASE d.defaclobjtype WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES' WHEN 'f' THEN 'FUNCTIONS'
                  WHEN 'T' THEN 'TYPES' WHEN 'n' THEN 'SCHEMAS' WHEN 'L' THEN 'LARGE OBJECTS' END AS kind
           FROM pg_default_acl d, aclexplode(d.defaclacl) a
          WHERE d.defaclrole IN (SELECT refobjid FROM foreign_roles)
             OR a.grantee IN (SELECT refobjid FROM foreign_roles))
       SELECT statement FROM (
         SELECT DISTINCT 1 AS phase, format('%s REVOKE ALL ON %s FROM %s', prefix, kind,
                  CASE WHEN grantee = 0 THEN 'PUBLIC' ELSE grantee::regrole::text END) AS statement
           FROM entries WHERE theirs OR grantee IN (SELECT refobjid FROM foreign_roles)
         UNION
         SELECT DISTINCT 2, format('%s GRANT ALL ON %s TO %s', prefix, kind, defaclrole::regrole)
           FROM entries WHERE theirs AND defaclnamespace = 0
         UNION
         SELECT DISTINCT 3, format('%s GRANT %s ON %s TO PUBLIC', prefix,
                  CASE defaclobjtype WHEN 'f' THEN 'EXECUTE' ELSE 'USAGE' END, kind)
           FROM entries WHERE theirs AND defaclnamespace = 0 AND defaclobjtype IN ('f', 'T')
       ) s ORDER BY phase, statement`,
    ),
  );
  // Policies for them: for the others only, or gone.
  await run(
    await statements(
      `WITH foreign_roles AS (${FOREIGN_ROLES})
       SELECT CASE WHEN kept IS NULL THEN format('DROP POLICY %I ON %s', polname, polrelid::regclass)
                   ELSE format('ALTER POLICY %I ON %s TO %s', polname, polrelid::regclass, kept) END AS statement
         FROM (SELECT p.polname, p.polrelid,
                      (SELECT string_agg(CASE WHEN g = 0 THEN 'PUBLIC' ELSE g::regrole::text END, ', ')
                         FROM unnest(p.polroles) g WHERE g NOT IN (SELECT refobjid FROM foreign_roles)) AS kept
                 FROM pg_policy p WHERE p.polroles && ARRAY(SELECT refobjid FROM foreign_roles)) x`,
    ),
  );
}
