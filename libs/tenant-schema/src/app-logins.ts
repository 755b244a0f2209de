import { quoteIdentifier } from '@silo/core';
import type { Client } from 'pg';
import { inLockedTransaction, pgClientConfig, withPgClient, type PgEndpoint } from './pg-endpoint';
import { assertUnprivileged, assertUsablePassword, findRole } from './role-attributes';
import { revokeForeignMemberships, type RoleMembership } from './role-memberships';
import { scramSha256Verifier } from './scram-verifier';
import { readRoleDefaults, setRoleDefaults, type RoleDefaults } from './placements/role-defaults';

const APPLICATION_NAME = 'silo-credential-rotation';
const ROLE_LOCK_KEY = 'silo:tenant-app-role';

/**
 * The two login roles of the alternating-users scheme: `<app role>_a` and `<app role>_b`, both
 * members of the app role (which holds every grant), so that either logs in with the same rights.
 * A rotation gives the one not in use a new password and flips the secret to it; the other keeps
 * working until it is retired.
 */
export function appLoginRoles(appRole: string): readonly [string, string] {
  return [`${appRole}_a`, `${appRole}_b`];
}

/** The login a rotation moves to from `current` (the app role itself before the first rotation). */
export function nextAppLogin(appRole: string, current: string): string {
  const [a, b] = appLoginRoles(appRole);
  return current === a ? b : a;
}

/** What converging the app roles changed beyond what was asked: memberships granted by hand, revoked. */
export interface AppRolesResult {
  revokedMemberships: RoleMembership[];
  /**
   * Whether the logins carry `app.tenant_id` as a role default (bootstrap with a tenant id only):
   * false where the owner may not set that parameter (see setRoleDefaults).
   */
  tenantSettingAsDefault?: boolean;
}

/**
 * As the owner: makes `login` a LOGIN member of `group` (created when missing, INHERIT, the
 * group's connection limit) with `password` (sent as a SCRAM verifier, never in plain text).
 * Every other membership of the app roles (the group in nothing, each login in the group only) is
 * revoked and returned. The login carries `spec.defaults` (its schema and tenant) as role
 * defaults, or the group's when not given. Idempotent: a re-run sets the same password again.
 */
export async function setAppLogin(
  owner: PgEndpoint,
  spec: { group: string; login: string; password: string; defaults?: RoleDefaults },
): Promise<AppRolesResult> {
  quoteIdentifier(spec.group, 'app role');
  quoteIdentifier(spec.login, 'app login role');
  assertUsablePassword(spec.password, 'app login password');
  if (spec.login === owner.user || spec.group === owner.user)
    throw new Error('the app roles must not be the owner');
  if (!appLoginRoles(spec.group).includes(spec.login))
    throw new Error(`${spec.login} is not one of the login roles of ${spec.group}`);

  return withPgClient(pgClientConfig(owner, APPLICATION_NAME), (client) =>
    inLockedTransaction(client, ROLE_LOCK_KEY, async () => {
      const groupRole = await findRole(client, spec.group);
      if (groupRole === undefined) throw new Error(`app role ${spec.group} does not exist`);
      const limit = await client.query<{ rolconnlimit: number }>(
        'SELECT rolconnlimit FROM pg_roles WHERE rolname = $1',
        [spec.group],
      );
      // Given: the group and its logins carry them from now on (tenants provisioned before role
      // defaults get them at their next rotation); otherwise the login copies the group's.
      if (spec.defaults) await setRoleDefaults(client, [spec.group], spec.defaults);
      await convergeAppLogin(client, spec, String(limit.rows[0]?.rolconnlimit ?? -1));
      return { revokedMemberships: await revokeAppRoleMemberships(client, spec.group) };
    }),
  );
}

/**
 * In the caller's transaction: `login` a LOGIN INHERIT member of `group` with `password` (as a
 * SCRAM verifier) and CONNECTION LIMIT `connectionLimit`, created when missing.
 */
export async function convergeAppLogin(
  client: Client,
  spec: { group: string; login: string; password: string },
  connectionLimit: string,
): Promise<void> {
  const group = quoteIdentifier(spec.group, 'app role');
  const login = quoteIdentifier(spec.login, 'app login role');
  const password = client.escapeLiteral(scramSha256Verifier(spec.password));
  const existing = await findRole(client, spec.login);
  if (existing === undefined) {
    await client.query(
      `CREATE ROLE ${login} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION ` +
        `CONNECTION LIMIT ${connectionLimit} PASSWORD ${password}`,
    );
  } else {
    assertUnprivileged(existing, spec.login, 'app login role');
    await client.query(
      `ALTER ROLE ${login} LOGIN NOCREATEDB NOCREATEROLE INHERIT CONNECTION LIMIT ${connectionLimit} PASSWORD ${password}`,
    );
  }
  await client.query(`GRANT ${group} TO ${login}`);
  // The login serves the same tenant and schema as the group: it gets the group's defaults.
  const defaults = await readRoleDefaults(client, spec.group);
  if (defaults) await setRoleDefaults(client, [spec.login], defaults);
}

/**
 * In the caller's transaction: the app role `group` a member of no role, and each of its login
 * roles that exists a member of `group` only (no ADMIN OPTION): memberships granted by hand
 * (`rds_superuser`, `pg_read_all_data`, …) are revoked and returned. Throws
 * AppRoleMembershipError when one cannot be revoked.
 */
export async function revokeAppRoleMemberships(client: Client, group: string): Promise<RoleMembership[]> {
  const revoked = await revokeForeignMemberships(client, group, []);
  for (const login of appLoginRoles(group)) {
    const existing = await findRole(client, login);
    if (existing === undefined) continue;
    assertUnprivileged(existing, login, 'app login role');
    revoked.push(...(await revokeForeignMemberships(client, login, [group])));
  }
  return revoked;
}

/**
 * As the owner: `login` can no longer log in (NOLOGIN, no password). Sessions it has open go on
 * until they end or are terminated (terminateSessions). `login` may be the app role
 * itself (the login of tenants provisioned before the alternating logins): it stays the group
 * that holds the grants.
 */
export async function retireAppLogin(
  owner: PgEndpoint,
  spec: { group: string; login: string },
): Promise<void> {
  const login = quoteIdentifier(spec.login, 'app login role');
  if (spec.login !== spec.group && !appLoginRoles(spec.group).includes(spec.login))
    throw new Error(`${spec.login} is not a login role of ${spec.group}`);
  await withPgClient(pgClientConfig(owner, APPLICATION_NAME), (client) =>
    inLockedTransaction(client, ROLE_LOCK_KEY, async () => {
      const existing = await findRole(client, spec.login);
      if (existing === undefined) return;
      assertUnprivileged(existing, spec.login, 'app login role');
      await client.query(`ALTER ROLE ${login} NOLOGIN PASSWORD NULL`);
    }),
  );
}

/**
 * As the given user: logs in, and checks it holds `group`'s rights when given. Throws the
 * driver's error (28P01 for a refused password) otherwise.
 */
export async function checkLogin(endpoint: PgEndpoint, group?: string): Promise<void> {
  await withPgClient(pgClientConfig(endpoint, APPLICATION_NAME), async (client) => {
    if (group === undefined) {
      await client.query('SELECT 1');
      return;
    }
    const { rows } = await client.query<{ member: boolean }>(
      "SELECT pg_has_role(current_user, $1, 'USAGE') AS member",
      [group],
    );
    if (!rows[0]?.member) throw new Error(`${endpoint.user} does not hold the rights of ${group}`);
  });
}
