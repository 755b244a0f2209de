import { APP_SCHEMA, isPlacement, isTenantId, quoteIdentifier, type Placement } from '@silo/core';

/**
 * Where one run of the tenant migrations applies: a migration target is an instance's database,
 * a schema tenant's schema on a shared host, or a shared host's pool database. The same
 * migrations run in all three, with `search_path` set to the target's schema, so they are
 * written with unqualified names.
 */
export interface MigrationTarget {
  placement: Placement;
  /** The schema the migrations create their tables in: `app`, or the schema tenant's own. */
  schema: string;
  /**
   * The one tenant whose rows an `instance` or `schema` target holds: `app.tenant_id` is set to
   * it while migrating, so a backfill sees that tenant's rows and a new `tenant_id` column is
   * filled. Never given for a `pool` target, whose migrations run once for all its tenants.
   */
  tenantId?: string;
}

/** Today's target: an instance's database, schema `app`. */
export const INSTANCE_TARGET: MigrationTarget = { placement: 'instance', schema: APP_SCHEMA };

/** The schema that holds the ledgers of `schema` targets, one table per tenant schema (owner only). */
export const SCHEMA_LEDGERS_SCHEMA = 'silo_ledgers';

/** Checks a target; returns it with its schema quoted for SQL. */
export function checkedTarget(target: MigrationTarget): MigrationTarget & { quotedSchema: string } {
  if (!isPlacement(target.placement)) throw new Error(`${String(target.placement)} is not a placement`);
  const quotedSchema = quoteIdentifier(target.schema, 'tenant schema');
  if (
    target.schema === 'public' ||
    target.schema === SCHEMA_LEDGERS_SCHEMA ||
    target.schema.startsWith('pg_')
  )
    throw new Error(`${target.schema} cannot hold tenant tables`);
  if (target.placement !== 'schema' && target.schema !== APP_SCHEMA)
    throw new Error(
      `a ${target.placement} target keeps its tables in schema ${APP_SCHEMA}, not ${target.schema}`,
    );
  if (target.placement === 'schema' && target.schema === APP_SCHEMA)
    throw new Error(`a schema tenant needs a schema of its own, not ${APP_SCHEMA}`);
  if (target.placement === 'pool' && target.tenantId !== undefined)
    throw new Error('a pool target holds many tenants: it takes no tenant id');
  if (target.tenantId !== undefined && !isTenantId(target.tenantId))
    throw new Error(`${JSON.stringify(target.tenantId)} is not a tenant id`);
  return { ...target, quotedSchema };
}

/** The ledger table of a target, qualified and quoted. */
export function ledgerTable(target: MigrationTarget, ledgerName: string): string {
  return target.placement === 'schema'
    ? `${SCHEMA_LEDGERS_SCHEMA}.${quoteIdentifier(target.schema, 'tenant schema')}`
    : `public.${ledgerName}`;
}

/** The advisory lock migrators of one target queue on (schema tenants of one host do not wait for each other). */
export function migrationLockKey(target: MigrationTarget, base: string): string {
  return target.placement === 'schema' ? `${base}:${target.schema}` : base;
}
