import type { SchemaRolloutEntity } from '@silo/control-plane-db';
import { SchemaRolloutTenantEntity } from '@silo/control-plane-db';
import { isTenantId, RolloutError, RolloutErrorCode, slugProblem } from '@silo/core';
import type { EntityManager } from 'typeorm';
import type { SagaContext } from '../store/provisioning-store';
import { appendTenantEvent } from '../store/typeorm-provisioning-store';
import { advanceRollout, appendRolloutEvent, stateCounts, succeed } from './rollout-dispatch';

/** Why a tenant was skipped when its rollout started. */
export const SKIPPED_AT_TARGET = 'already at or past the target';
export const SKIPPED_EXCLUDED = 'excluded when the rollout started';

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
 * caller: the tenant's row says skipped with who and why, the rollout and the tenant each get
 * an audit event, and the rollout moves on (RUNNING) or, FAILED with no failed tenant left,
 * finishes SUCCEEDED. A PAUSED rollout stays paused.
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
      ? await em.query<{ tenant_id: string; slug: string; state: string }[]>(
          `SELECT rt.tenant_id, t.slug, rt.state FROM schema_rollout_tenants rt JOIN tenants t ON t.id = rt.tenant_id
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
  await em.update(
    SchemaRolloutTenantEntity,
    { rolloutId: rollout.id, tenantId: row.tenant_id },
    {
      state: 'skipped',
      failures: 0,
      skippedBy: ctx.actor,
      skipReason: reason,
      finishedAt: () => 'now()',
    },
  );
  const data = { tenantId: row.tenant_id, slug: row.slug, from: row.state, reason };
  await appendRolloutEvent(
    em,
    rollout.id,
    ctx,
    'rollout.tenant_skipped',
    `${row.slug} (${row.state}) skipped by ${ctx.actor}: ${reason}`,
    data,
  );
  await appendTenantEvent(
    em,
    row.tenant_id,
    {
      type: 'schema.migration_skipped',
      message: `left out of the rollout to ${rollout.targetVersion} by ${ctx.actor}: ${reason} (rollout ${rollout.id})`,
      data: { rolloutId: rollout.id, from: row.state, reason },
    },
    ctx,
  );
  if (rollout.status === 'RUNNING') {
    await advanceRollout(em, rollout, ctx);
  } else if (rollout.status === 'FAILED') {
    // A FAILED rollout has nothing pending: with its last failed tenant skipped, it is done.
    const counts = await stateCounts(em, rollout.id);
    if (counts.failed === 0 && counts.running === 0) await succeed(em, rollout, ctx, counts);
  }
}
