import {
  SchemaRolloutEntity,
  SchemaRolloutEventEntity,
  SchemaRolloutTenantEntity,
  type RolloutPauseKind,
  type RolloutStatus,
} from '@silo/control-plane-db';
import type { EntityManager } from 'typeorm';
import { writeOutboxJob } from '../jobs/outbox';
import { MIGRATE_TENANT_JOB, migrateJobId } from '../jobs/provisioning-jobs';
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
 * waves, and otherwise hands the queue as many pending tenants of the current wave as
 * `maxConcurrency` leaves room for, failed ones retried first. Their jobs go through the
 * outbox, written in the same transaction. Returns how many tenants it dispatched.
 */
export async function advanceRollout(
  em: EntityManager,
  rollout: SchemaRolloutEntity,
  ctx: SagaContext,
): Promise<number> {
  if (rollout.status !== 'RUNNING') return 0;
  const counts = await stateCounts(em, rollout.id);
  if (counts.failed >= rollout.failureThreshold) {
    await setStatus(em, rollout, 'PAUSED', ctx, {
      pauseKind: 'failures',
      reason: `${counts.failed} tenant(s) failed, reaching the failure threshold of ${rollout.failureThreshold}; repair them and resume (failed tenants are retried first)`,
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

  const room =
    rollout.maxConcurrency -
    (await em.count(SchemaRolloutTenantEntity, { where: { rolloutId: rollout.id, state: 'running' } }));
  if (room <= 0) return 0;
  const next = await em
    .getRepository(SchemaRolloutTenantEntity)
    .createQueryBuilder('rt')
    .where('rt.rollout_id = :id AND rt.state = :pending AND rt.wave <= :wave', {
      id: rollout.id,
      pending: 'pending',
      wave: rollout.currentWave,
    })
    .orderBy('(rt.attempt > 0)', 'DESC')
    .addOrderBy('rt.wave')
    .addOrderBy('rt.position')
    .limit(room)
    .getMany();
  for (const row of next) {
    const attempt = row.attempt + 1;
    await em.update(
      SchemaRolloutTenantEntity,
      { rolloutId: row.rolloutId, tenantId: row.tenantId },
      { state: 'running', attempt, failures: 0, startedAt: () => 'now()', finishedAt: null },
    );
    await writeOutboxJob(em, {
      name: MIGRATE_TENANT_JOB,
      id: migrateJobId(rollout.id, row.tenantId, attempt),
      payload: { rolloutId: rollout.id, tenantId: row.tenantId, attempt: String(attempt) },
    });
  }
  return next.length;
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
