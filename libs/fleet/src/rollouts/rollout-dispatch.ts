import {
  SchemaRolloutEntity,
  SchemaRolloutEventEntity,
  SchemaRolloutTenantEntity,
  type RolloutPauseKind,
  type RolloutStatus,
} from '@silo/control-plane-db';
import type { EntityManager } from 'typeorm';
import { writeOutboxJob } from '../jobs/outbox';
import {
  MIGRATE_POOL_JOB,
  MIGRATE_TENANT_JOB,
  migrateJobId,
  migratePoolJobId,
} from '../jobs/provisioning-jobs';
import type { SagaContext } from '../store/provisioning-store';

/** Locks the rollout's row for the rest of the caller's transaction; null when there is none. */
export async function lockRollout(em: EntityManager, rolloutId: string): Promise<SchemaRolloutEntity | null> {
  return em
    .getRepository(SchemaRolloutEntity)
    .findOne({ where: { id: rolloutId }, lock: { mode: 'pessimistic_write' } });
}

/**
 * Moves a RUNNING rollout on, inside the caller's transaction and under its row lock (taken by
 * {@link lockRollout}, so that advances never interleave): pauses it when failed tenants reach
 * the threshold, finishes it when the last wave is done, stops at an approval gate between
 * waves, and otherwise hands the queue as many pending migration targets of the current wave
 * (a tenant's own database or schema, or a pool host with its pending tenants) as
 * `maxConcurrency` leaves room for, failed ones retried first; the failure threshold and the
 * concurrency count targets too. Their jobs go through the outbox, written in the same
 * transaction. Returns how many targets it dispatched.
 */
export async function advanceRollout(
  em: EntityManager,
  rollout: SchemaRolloutEntity,
  ctx: SagaContext,
): Promise<number> {
  if (rollout.status !== 'RUNNING') return 0;
  const counts = await stateCounts(em, rollout.id);
  const failedTargets = counts.failed ? await countFailedTargets(em, rollout.id) : 0;
  if (failedTargets >= rollout.failureThreshold) {
    const what =
      failedTargets === counts.failed
        ? `${counts.failed} tenant(s) failed`
        : `${failedTargets} migration target(s) failed (${counts.failed} tenants, pooled ones failing with their pool)`;
    await setStatus(em, rollout, 'PAUSED', ctx, {
      pauseKind: 'failures',
      reason: `${what}, reaching the failure threshold of ${rollout.failureThreshold}; repair them and resume (failed tenants are retried first)`,
      event: 'rollout.paused',
    });
    return 0;
  }
  const lastWave = rollout.plan.length - 1;
  for (;;) {
    if (lastWave < 0 || rollout.currentWave > lastWave) break;
    const open = await openThrough(em, rollout.id, rollout.currentWave);
    if (open > 0) break;
    if (rollout.currentWave === lastWave) break;
    const next = rollout.currentWave + 1;
    if (rollout.pauseBetweenWaves && rollout.approvedWave < next) {
      await setStatus(em, rollout, 'PAUSED', ctx, {
        pauseKind: 'approval',
        reason: `wave ${rollout.currentWave} is done; resume to start wave ${next}`,
        event: 'rollout.awaiting_approval',
      });
      return 0;
    }
    rollout.currentWave = next;
    await em.update(SchemaRolloutEntity, { id: rollout.id }, { currentWave: next, updatedAt: () => 'now()' });
    await appendRolloutEvent(em, rollout.id, ctx, 'rollout.wave_started', `wave ${next} started`, {
      wave: next,
    });
  }
  if (
    lastWave < 0 ||
    (rollout.currentWave === lastWave && (await openThrough(em, rollout.id, lastWave)) === 0)
  ) {
    if (counts.failed > 0) {
      await setStatus(em, rollout, 'FAILED', ctx, {
        reason: null,
        event: 'rollout.failed',
        message: `finished with ${counts.failed} failed tenant(s) below the threshold; resume retries them (or skip them)${counts.skipped ? `; ${counts.skipped} skipped` : ''}`,
        data: { failed: counts.failed, skipped: counts.skipped },
      });
    } else {
      await succeed(em, rollout, ctx, counts);
    }
    return 0;
  }

  const [{ running }] = await em.query<{ running: number }[]>(
    `SELECT count(DISTINCT ${TARGET_KEY})::int AS running FROM schema_rollout_tenants
      WHERE rollout_id = $1 AND state = 'running'`,
    [rollout.id],
  );
  const room = rollout.maxConcurrency - running;
  if (room <= 0) return 0;
  // The next targets: a tenant's own database or schema, or a pool host with all its pending
  // tenants; retried ones first, then in plan order.
  const next = await em.query<{ tenant_id: string | null; pool_host_id: string | null; attempt: number }[]>(
    `SELECT CASE WHEN pool_host_id IS NULL THEN min(tenant_id::text) END AS tenant_id, pool_host_id,
            max(attempt)::int AS attempt
       FROM schema_rollout_tenants
      WHERE rollout_id = $1 AND state = 'pending' AND wave <= $2
      GROUP BY ${TARGET_KEY}, pool_host_id
      ORDER BY bool_or(attempt > 0) DESC, min(wave), min(position)
      LIMIT $3`,
    [rollout.id, rollout.currentWave, room],
  );
  for (const target of next) {
    const attempt = target.attempt + 1;
    const rows = target.pool_host_id
      ? { rolloutId: rollout.id, poolHostId: target.pool_host_id, state: 'pending' as const }
      : { rolloutId: rollout.id, tenantId: target.tenant_id! };
    await em.update(SchemaRolloutTenantEntity, rows, {
      state: 'running',
      attempt,
      failures: 0,
      startedAt: () => 'now()',
      finishedAt: null,
    });
    await writeOutboxJob(em, migrateJob(rollout.id, target, attempt));
  }
  return next.length;
}

/**
 * A rollout row's migration target, in SQL: its pool host for a pooled tenant, else the tenant.
 * Everything that counts or dispatches work counts targets, not tenants.
 */
export const TARGET_KEY = 'coalesce(pool_host_id, tenant_id)';

/** The job that migrates one target of a rollout at one dispatch. */
export function migrateJob(
  rolloutId: string,
  target: { tenant_id: string | null; pool_host_id: string | null },
  attempt: number,
): { name: string; id: string; payload: Record<string, string> } {
  return target.pool_host_id
    ? {
        name: MIGRATE_POOL_JOB,
        id: migratePoolJobId(rolloutId, target.pool_host_id, attempt),
        payload: { rolloutId, hostId: target.pool_host_id, attempt: String(attempt) },
      }
    : {
        name: MIGRATE_TENANT_JOB,
        id: migrateJobId(rolloutId, target.tenant_id!, attempt),
        payload: { rolloutId, tenantId: target.tenant_id!, attempt: String(attempt) },
      };
}

/**
 * Finishes a rollout none of whose tenants is left to migrate or failed: SUCCEEDED, saying how
 * many tenants it skipped.
 */
export async function succeed(
  em: EntityManager,
  rollout: SchemaRolloutEntity,
  ctx: SagaContext,
  counts: Awaited<ReturnType<typeof stateCounts>>,
): Promise<void> {
  await setStatus(em, rollout, 'SUCCEEDED', ctx, {
    reason: null,
    event: 'rollout.succeeded',
    message: counts.skipped
      ? `${counts.succeeded} tenant(s) at ${rollout.targetVersion}; ${counts.skipped} skipped`
      : `every tenant is at ${rollout.targetVersion}`,
    data: { succeeded: counts.succeeded, skipped: counts.skipped },
  });
}

/** Tenants of the rollout by state. */
export async function stateCounts(
  em: EntityManager,
  rolloutId: string,
): Promise<Record<'pending' | 'running' | 'succeeded' | 'failed' | 'skipped', number>> {
  const rows = await em.query<{ state: string; n: string }[]>(
    `SELECT state, count(*) AS n FROM schema_rollout_tenants WHERE rollout_id = $1 GROUP BY state`,
    [rolloutId],
  );
  const counts = { pending: 0, running: 0, succeeded: 0, failed: 0, skipped: 0 };
  for (const r of rows) counts[r.state as keyof typeof counts] = Number(r.n);
  return counts;
}

/** Failed migration targets: a pool host whose migration failed counts once. */
async function countFailedTargets(em: EntityManager, rolloutId: string): Promise<number> {
  const [{ n }] = await em.query<{ n: number }[]>(
    `SELECT count(DISTINCT ${TARGET_KEY})::int AS n FROM schema_rollout_tenants
      WHERE rollout_id = $1 AND state = 'failed'`,
    [rolloutId],
  );
  return n;
}

async function openThrough(em: EntityManager, rolloutId: string, wave: number): Promise<number> {
  const [{ n }] = await em.query<{ n: string }[]>(
    `SELECT count(*) AS n FROM schema_rollout_tenants
      WHERE rollout_id = $1 AND wave <= $2 AND state IN ('pending', 'running')`,
    [rolloutId, wave],
  );
  return Number(n);
}

/** Sets a rollout's status with its audit line; the row is the caller's locked copy. */
export async function setStatus(
  em: EntityManager,
  rollout: SchemaRolloutEntity,
  status: RolloutStatus,
  ctx: SagaContext,
  change: {
    pauseKind?: RolloutPauseKind | null;
    reason: string | null;
    event: string;
    message?: string;
    data?: Record<string, unknown>;
  },
): Promise<void> {
  const terminal = status === 'SUCCEEDED' || status === 'FAILED' || status === 'ABORTED';
  const patch = {
    status,
    pauseKind: status === 'PAUSED' ? (change.pauseKind ?? 'operator') : null,
    pausedReason: status === 'PAUSED' ? change.reason : null,
    finishedAt: terminal ? new Date() : null,
  };
  Object.assign(rollout, patch);
  await em.update(SchemaRolloutEntity, { id: rollout.id }, { ...patch, updatedAt: () => 'now()' });
  await appendRolloutEvent(em, rollout.id, ctx, change.event, change.message ?? change.reason ?? status, {
    status,
    ...(change.data ?? {}),
  });
}

export async function appendRolloutEvent(
  em: EntityManager,
  rolloutId: string,
  ctx: SagaContext,
  type: string,
  message: string,
  data: Record<string, unknown> = {},
): Promise<void> {
  const events = em.getRepository(SchemaRolloutEventEntity);
  await events.save(
    events.create({
      rolloutId,
      type,
      message,
      actor: ctx.actor,
      data,
      correlationId: ctx.correlationId || null,
    }),
  );
}
