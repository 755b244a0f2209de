import type { SchemaRolloutEntity } from '@silo/control-plane-db';
import { SchemaRolloutTenantEntity } from '@silo/control-plane-db';
import { isTenantId, RolloutError, RolloutErrorCode, slugProblem } from '@silo/core';
import { In, type EntityManager } from 'typeorm';
import type { SagaContext } from '../store/provisioning-store';
import { appendTenantEvent } from '../store/typeorm-provisioning-store';
import { advanceRollout, appendRolloutEvent, stateCounts, succeed } from './rollout-dispatch';

/** Why a tenant was skipped when its rollout started. */
export const SKIPPED_AT_TARGET = 'already at or past the target';
export const SKIPPED_EXCLUDED = 'excluded when the rollout started';
/** A pooled tenant whose pool another excluded tenant shares: the pool migrates as one. */
export const SKIPPED_WITH_POOL =
  'its pool was excluded when the rollout started (a pool database migrates for all its tenants)';

/**
 * The tenants `refs` (ids or slugs) name, by id. UNKNOWN_EXCLUDED_TENANTS naming every ref that
 * is no tenant (of any status).
 */
export async function excludedTenants(em: EntityManager, refs: readonly string[]): Promise<Set<string>> {
  if (!refs.length) return new Set();
  const ids = refs.filter((r) => isTenantId(r)).map((r) => r.toLowerCase());
  const slugs = refs.filter((r) => !isTenantId(r));
  const found = await em.query<{ id: string; slug: string }[]>(
    `SELECT id, slug FROM tenants WHERE id = ANY($1::uuid[]) OR slug = ANY($2::text[])`,
    [ids, slugs],
  );
  const known = new Set(found.flatMap((t) => [t.id, t.slug]));
  const unknown = refs.filter((r) => !known.has(isTenantId(r) ? r.toLowerCase() : r));
  if (unknown.length) {
    throw new RolloutError(
      RolloutErrorCode.UNKNOWN_EXCLUDED_TENANTS,
      `exclude names ${unknown.length} tenant(s) that do not exist: ${unknown.join(', ')}`,
      {
        unknownTenants: unknown,
        errors: [{ field: 'exclude', message: `names no tenant: ${unknown.join(', ')}` }],
      },
    );
  }
  return new Set(found.map((t) => t.id));
}

/**
 * Skips one pending or failed tenant (`tenant`: its id or slug) of `rollout`, locked by the
 * caller, with the rest of its pool when it is pooled (a pool database migrates as one): each
 * skipped tenant's row says skipped with who and why, the rollout and each tenant get an audit
 * event, and the rollout moves on (RUNNING) or, FAILED with no failed tenant left, finishes
 * SUCCEEDED. A PAUSED rollout stays paused.
 */
export async function skipRolloutTenant(
  em: EntityManager,
  rollout: SchemaRolloutEntity,
  tenant: string,
  reason: string,
  ctx: SagaContext,
): Promise<void> {
  const byId = isTenantId(tenant);
  // Neither an id nor a slug names no tenant (and never reaches PostgreSQL, which refuses NUL).
  const [row] =
    byId || !slugProblem(tenant)
      ? await em.query<{ tenant_id: string; slug: string; state: string; pool_host_id: string | null }[]>(
          `SELECT rt.tenant_id, t.slug, rt.state, rt.pool_host_id FROM schema_rollout_tenants rt JOIN tenants t ON t.id = rt.tenant_id
            WHERE rt.rollout_id = $1 AND ${byId ? 't.id = $2::uuid' : 't.slug = $2'}
            FOR UPDATE OF rt`,
          [rollout.id, byId ? tenant.toLowerCase() : tenant],
        )
      : [];
  if (!row) {
    throw new RolloutError(
      RolloutErrorCode.ROLLOUT_TENANT_NOT_FOUND,
      `tenant ${byId || !slugProblem(tenant) ? tenant : JSON.stringify(tenant.slice(0, 64))} is not one of rollout ${rollout.id}'s tenants`,
    );
  }
  if (row.state !== 'pending' && row.state !== 'failed') {
    throw new RolloutError(
      RolloutErrorCode.ROLLOUT_TENANT_ILLEGAL_STATE,
      row.state === 'running'
        ? `tenant ${row.slug} is migrating; pause the rollout and skip it once it has failed`
        : `tenant ${row.slug} is already ${row.state} in rollout ${rollout.id}; only a pending or failed tenant can be skipped`,
      { tenantState: row.state },
    );
  }
  // A pooled tenant's target is its host's pool database: skipping it skips the pool, so every
  // pending or failed tenant of that pool in this rollout with it (they are in one state together).
  const skipped = row.pool_host_id
    ? await em.query<{ tenant_id: string }[]>(
        `SELECT tenant_id FROM schema_rollout_tenants
          WHERE rollout_id = $1 AND pool_host_id = $2 AND state IN ('pending', 'failed')
          FOR UPDATE`,
        [rollout.id, row.pool_host_id],
      )
    : [{ tenant_id: row.tenant_id }];
  const ids = skipped.map((r) => r.tenant_id);
  await em.update(
    SchemaRolloutTenantEntity,
    { rolloutId: rollout.id, tenantId: In(ids) },
    {
      state: 'skipped',
      failures: 0,
      skippedBy: ctx.actor,
      skipReason: reason,
      finishedAt: () => 'now()',
    },
  );
  const others = ids.length - 1;
  const data = {
    tenantId: row.tenant_id,
    slug: row.slug,
    from: row.state,
    reason,
    ...(row.pool_host_id ? { poolHostId: row.pool_host_id, withPool: others } : {}),
  };
  await appendRolloutEvent(
    em,
    rollout.id,
    ctx,
    'rollout.tenant_skipped',
    `${row.slug} (${row.state}) skipped by ${ctx.actor}${
      row.pool_host_id ? `, with the ${others} other tenant(s) of its pool` : ''
    }: ${reason}`,
    data,
  );
  for (const id of ids) {
    await appendTenantEvent(
      em,
      id,
      {
        type: 'schema.migration_skipped',
        message: `left out of the rollout to ${rollout.targetVersion} by ${ctx.actor}${
          id === row.tenant_id ? '' : ` with ${row.slug}, which shares its pool`
        }: ${reason} (rollout ${rollout.id})`,
        data: { rolloutId: rollout.id, from: row.state, reason },
      },
      ctx,
    );
  }
  if (rollout.status === 'RUNNING') {
    await advanceRollout(em, rollout, ctx);
  } else if (rollout.status === 'FAILED') {
    // A FAILED rollout has nothing pending: with its last failed tenant skipped, it is done.
    const counts = await stateCounts(em, rollout.id);
    if (counts.failed === 0 && counts.running === 0) await succeed(em, rollout, ctx, counts);
  }
}
