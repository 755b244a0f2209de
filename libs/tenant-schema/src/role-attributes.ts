import type { Client } from 'pg';

/**
 * Refuses passwords PostgreSQL would not store as given: empty (it would clear the password),
 * containing NUL, or shaped like an MD5/SCRAM verifier (it would store that string as the hash).
 * The message never contains the password.
 */
export function assertUsablePassword(password: string, what: string): void {
  if (typeof password !== 'string' || password.length === 0 || password.includes('\0'))
    throw new Error(`${what} must be a non-empty string without NUL characters`);
  if (/^md5[0-9a-f]{32}$/.test(password) || password.startsWith('SCRAM-SHA-256$'))
    throw new Error(`${what} must not look like an MD5 or SCRAM password hash`);
}

/** Checks a CONNECTION LIMIT value (-1 means none) and returns it for SQL. */
export function connectionLimitSql(limit: number | undefined, what: string): string {
  const value = limit ?? -1;
  if (!Number.isSafeInteger(value) || value < -1)
    throw new Error(`${what} must be an integer of at least -1 (-1: no limit)`);
  return String(value);
}

export interface ExistingRole {
  rolsuper: boolean;
  rolreplication: boolean;
  rolbypassrls: boolean;
}

/** The attributes of role `name` that Silo refuses to work with, or undefined when it does not exist. */
export async function findRole(client: Client, name: string): Promise<ExistingRole | undefined> {
  const result = await client.query<ExistingRole>(
    'SELECT rolsuper, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = $1',
    [name],
  );
  return result.rows[0];
}

/**
 * Throws when an existing role holds attributes only a superuser can grant or remove: Silo will
 * not hand such a role to a tenant, and (from PostgreSQL 15 on) a non-superuser may not even
 * name SUPERUSER/REPLICATION/BYPASSRLS in ALTER ROLE, so it could not reset them.
 */
export function assertUnprivileged(role: ExistingRole, name: string, what: string): void {
  if (role.rolsuper || role.rolreplication || role.rolbypassrls)
    throw new Error(
      `${what} ${JSON.stringify(name)} already exists with SUPERUSER, REPLICATION or BYPASSRLS; refusing to use it`,
    );
}
