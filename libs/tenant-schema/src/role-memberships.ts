import { InvalidSqlIdentifierError, quoteIdentifier } from '@silo/core';
import type { Client } from 'pg';

/** `member` was (or still is) a member of `role`; `adminOption`: it could grant `role` on. */
export interface RoleMembership {
  member: string;
  role: string;
  adminOption?: true;
}

/**
 * An app role holds a membership Silo could not revoke: a role only a superuser may manage, or
 * (PostgreSQL 16 and later) a grant recorded under a grantor whose rights the owner lacks. Names
 * roles only; never a password.
 */
export class AppRoleMembershipError extends Error {
  override readonly name = 'AppRoleMembershipError';
  readonly code = 'APP_ROLE_MEMBERSHIP_NOT_REVOKED';
  constructor(readonly memberships: readonly RoleMembership[]) {
    super(
      `the app roles keep memberships Silo could not revoke: ${describeMemberships(memberships)}; ` +
        'revoke them as a superuser (REVOKE <role> FROM <member>) and run again',
    );
  }
}

/** `a in b (with admin option), c in d`. */
export function describeMemberships(memberships: readonly RoleMembership[]): string {
  return memberships
    .map((m) => `${m.member} in ${m.role}${m.adminOption ? ' (with admin option)' : ''}`)
    .join(', ');
}

/**
 * Leaves `member` a member of the roles in `allowed` only, without ADMIN OPTION: every other
 * membership it holds (`rds_superuser`, `pg_read_all_data`, … granted by hand) is revoked. Runs
 * inside the caller's transaction (each REVOKE under a savepoint). Returns what it revoked;
 * throws {@link AppRoleMembershipError} when a membership stays, and the caller's transaction,
 * rolled back, changes nothing.
 */
export async function revokeForeignMemberships(
  client: Client,
  member: string,
  allowed: readonly string[],
): Promise<RoleMembership[]> {
  const quotedMember = quoteIdentifier(member, 'role');
  const found = await foreignMemberships(client, member, allowed);
  for (const m of found) {
    let role: string;
    try {
      role = quoteIdentifier(m.role, 'granted role');
    } catch (error) {
      // A name Silo will not put into SQL: left for the check below to report.
      if (error instanceof InvalidSqlIdentifierError) continue;
      throw error;
    }
    const statement = allowed.includes(m.role)
      ? `REVOKE ADMIN OPTION FOR ${role} FROM ${quotedMember}`
      : `REVOKE ${role} FROM ${quotedMember}`;
    await client.query('SAVEPOINT silo_revoke_membership');
    try {
      await client.query(statement);
      await client.query('RELEASE SAVEPOINT silo_revoke_membership');
    } catch {
      // 42501 (a superuser's role, a grant of another grantor): reported below with the others.
      await client.query('ROLLBACK TO SAVEPOINT silo_revoke_membership');
    }
  }
  const remaining = await foreignMemberships(client, member, allowed);
  if (remaining.length > 0) throw new AppRoleMembershipError(remaining);
  return found;
}

/** The memberships of `member` other than plain memberships in `allowed`. */
async function foreignMemberships(
  client: Client,
  member: string,
  allowed: readonly string[],
): Promise<RoleMembership[]> {
  // One row per granted role: from PostgreSQL 16 one membership may be granted by several grantors.
  const { rows } = await client.query<{ role: string; admin_option: boolean }>(
    `SELECT g.rolname AS role, bool_or(m.admin_option) AS admin_option
       FROM pg_auth_members m
       JOIN pg_roles g ON g.oid = m.roleid
       JOIN pg_roles r ON r.oid = m.member
      WHERE r.rolname = $1
      GROUP BY g.rolname
      ORDER BY g.rolname`,
    [member],
  );
  return rows
    .filter((row) => !allowed.includes(row.role) || row.admin_option)
    .map((row) => ({
      member,
      role: row.role,
      ...(allowed.includes(row.role) && { adminOption: true as const }),
    }));
}
