import { quoteIdentifier } from '@silo/core';
import type { MigrationSession } from '../migrations/tenant-migration';
import type { MigrationTarget } from './migration-target';

/** The column every tenant table carries. */
export const TENANT_ID_COLUMN = 'tenant_id';
/** The setting that names the current tenant: a role default (instance, schema) or set per transaction (pool). */
export const TENANT_SETTING = 'app.tenant_id';
/** The one policy Silo puts on every tenant table. */
export const TENANT_POLICY = 'silo_tenant_isolation';

/**
 * The current tenant, or NULL when none is set: `current_setting(…, true)` is NULL before the
 * setting was ever set in the session and '' after a transaction-local value ended.
 */
export const CURRENT_TENANT_SQL = `NULLIF(current_setting('${TENANT_SETTING}', true), '')::uuid`;
/** {@link CURRENT_TENANT_SQL} as PostgreSQL renders it back (pg_get_expr), to see that a table is already in shape. */
const CURRENT_TENANT_RENDERED = `(NULLIF(current_setting('${TENANT_SETTING}'::text, true), ''::text))::uuid`;
const POLICY_RENDERED = `(${TENANT_ID_COLUMN} = ${CURRENT_TENANT_RENDERED})`;

/** A table (or other relation) of the target schema as the catalogue describes it. */
interface RelationState {
  name: string;
  kind: 'r' | 'p' | 'm';
  rls: boolean;
  forced: boolean;
  tenantType: string | null;
  tenantNotNull: boolean;
  tenantDefault: string | null;
  policies: Array<{
    name: string;
    permissive: boolean;
    /** Applies to PUBLIC (every role), not to named roles only. */
    everyone: boolean;
    using: string | null;
    check: string | null;
    cmd: string;
  }> | null;
}

/** A table of the target that cannot be isolated as it stands; the migration that made it so fails. */
export class TenantIsolationError extends Error {
  override readonly name = 'TenantIsolationError';
  constructor(
    message: string,
    readonly table: string,
  ) {
    super(message);
  }
}

/**
 * Puts every table of the target's schema that has a `tenant_id` column under row-level
 * security keyed on `app.tenant_id`: RLS enabled and forced (the owner is bound too), the
 * column's default the current tenant, and the one policy {@link TENANT_POLICY} whose USING and
 * WITH CHECK are `tenant_id = current tenant`. A table already in that shape is not touched, so
 * no ACCESS EXCLUSIVE lock is taken on it. Refused, naming the table:
 * - a `tenant_id` that is not `uuid NOT NULL`;
 * - another permissive policy on a tenant table (permissive policies are OR-ed: it would widen
 *   what a tenant sees; restrictive ones narrow it and are kept);
 * - in a pool database, a table without `tenant_id`, or a materialized view (its rows are read
 *   without row-level security).
 * Runs inside the migration's own transaction, so a refusal applies nothing of it.
 */
export async function enforceTenantIsolation(
  session: MigrationSession,
  target: MigrationTarget,
): Promise<void> {
  const schema = quoteIdentifier(target.schema, 'tenant schema');
  const relations = rows<RelationState>(
    await session.query(
      `SELECT c.relname AS name, c.relkind AS kind, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
              format_type(a.atttypid, a.atttypmod) AS "tenantType", coalesce(a.attnotnull, false) AS "tenantNotNull",
              pg_get_expr(d.adbin, d.adrelid) AS "tenantDefault",
              (SELECT json_agg(json_build_object('name', p.polname, 'permissive', p.polpermissive, 'cmd', p.polcmd,
                        'everyone', p.polroles = '{0}',
                        'using', pg_get_expr(p.polqual, p.polrelid), 'check', pg_get_expr(p.polwithcheck, p.polrelid)))
                 FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped
         LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'm')
        ORDER BY c.relname`,
      [target.schema, TENANT_ID_COLUMN],
    ),
  );
  for (const relation of relations) {
    const qualified = `${target.schema}.${relation.name}`;
    if (relation.kind === 'm') {
      if (target.placement === 'pool')
        throw new TenantIsolationError(
          `${qualified} is a materialized view: its rows are read without row-level security, so a pool database cannot have one (use a view)`,
          qualified,
        );
      continue;
    }
    if (relation.tenantType === null) {
      if (target.placement === 'pool')
        throw new TenantIsolationError(
          `${qualified} has no ${TENANT_ID_COLUMN} column: every table of a pool database needs ${TENANT_ID_COLUMN} uuid NOT NULL, which Silo keys row-level security on`,
          qualified,
        );
      continue;
    }
    if (relation.tenantType !== 'uuid' || !relation.tenantNotNull)
      throw new TenantIsolationError(
        `${qualified}.${TENANT_ID_COLUMN} is ${relation.tenantType}${relation.tenantNotNull ? ' NOT NULL' : ' (nullable)'}: a tenant table's ${TENANT_ID_COLUMN} must be uuid NOT NULL`,
        qualified,
      );
    const widening = (relation.policies ?? []).find((p) => p.name !== TENANT_POLICY && p.permissive);
    if (widening)
      throw new TenantIsolationError(
        `${qualified} has the permissive policy ${widening.name} besides ${TENANT_POLICY}: permissive policies are OR-ed, so it would widen what a tenant sees; make it AS RESTRICTIVE or drop it`,
        qualified,
      );
    await isolate(session, `${schema}.${quoteIdentifier(relation.name, 'table name')}`, relation);
  }
}

async function isolate(session: MigrationSession, table: string, state: RelationState): Promise<void> {
  if (!state.rls) await session.query(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`);
  if (!state.forced) await session.query(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`);
  if (state.tenantDefault !== CURRENT_TENANT_RENDERED)
    await session.query(
      `ALTER TABLE ${table} ALTER COLUMN ${TENANT_ID_COLUMN} SET DEFAULT ${CURRENT_TENANT_SQL}`,
    );
  const ours = (state.policies ?? []).find((p) => p.name === TENANT_POLICY);
  const inShape =
    ours &&
    ours.cmd === '*' &&
    ours.permissive &&
    ours.everyone &&
    ours.using === POLICY_RENDERED &&
    ours.check === POLICY_RENDERED;
  if (inShape) return;
  if (ours) await session.query(`DROP POLICY ${TENANT_POLICY} ON ${table}`);
  const key = `${TENANT_ID_COLUMN} = ${CURRENT_TENANT_SQL}`;
  await session.query(
    `CREATE POLICY ${TENANT_POLICY} ON ${table} AS PERMISSIVE FOR ALL USING (${key}) WITH CHECK (${key})`,
  );
}

function rows<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return (result as { rows?: T[] }).rows ?? [];
}
