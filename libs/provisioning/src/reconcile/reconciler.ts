import { ReconcilePassEntity, SchemaRolloutTenantEntity } from '@silo/control-plane-db';
import type { TierName } from '@silo/core';
import type { DataSource } from 'typeorm';
import { writeOutboxJob } from '../jobs/outbox';
import {
  DEPROVISION_TENANT_JOB,
  deprovisionJobId,
  migrateJobId,
  PROVISION_TENANT_JOB,
  provisionJobId,
  tierPriority,
} from '../jobs/provisioning-jobs';
import { advanceRollout, appendRolloutEvent, lockRollout } from '../rollouts/rollout-dispatch';
import type { SagaContext, SagaLog } from '../store/provisioning-store';
import { appendTenantEvent } from '../store/typeorm-provisioning-store';

/** What the reconciler asks of the queue (libs/queue's ProvisioningQueue fits). */
export interface ReconcileQueue {
  /** Whether the job is waiting, prioritised, delayed or active. */
  isLive(jobId: string): Promise<boolean>;
  /** Removes a completed or failed job, so that its id can be added again. */
  discardFinished(jobId: string): Promise<void>;
}

export interface ReconcileResult {
  passId: string;
  tenantsChecked: number;
  redriven: number;
}

const LOCK_KEY = 'silo:reconciler';
const ACTOR = 'system:reconciler';

interface StuckCandidate {
  id: string;
  slug: string;
  tier: TierName;
  status: 'PENDING' | 'PROVISIONING' | 'DEPROVISIONING';
  provisioning_run: number;
}

/**
 * The reconcile pass: looks again at what Silo recorded and puts right what a lost job left
 * behind. One pass runs at a time across every worker (a PostgreSQL advisory lock; a second
 * pass finds it taken and returns 'busy').
 *
 * Today a pass re-drives:
 * - tenants PENDING, PROVISIONING or DEPROVISIONING, unchanged for `stuckGraceMs`, whose
 *   current job is in the queue in no live state (a Redis flush or failover, a purged failed
 *   set): the job is queued again under its deterministic id, with a `tenant.redriven` event;
 * - rollout tenants marked running for `stuckGraceMs` whose job is gone: dispatched again;
 *   and every RUNNING rollout is advanced, so that one never stalls with room to dispatch.
 */
export class Reconciler {
  constructor(
    private readonly dataSource: DataSource,
    private readonly queue: ReconcileQueue,
    private readonly settings: { stuckGraceMs: number },
    private readonly log: SagaLog & { info(fields: object, message: string): void },
  ) {}

  async pass(triggeredBy: string, correlationId: string): Promise<ReconcileResult | 'busy'> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      const [{ locked }] = (await runner.query('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [
        LOCK_KEY,
      ])) as { locked: boolean }[];
      if (!locked) return 'busy';
      try {
        return await this.locked(triggeredBy, { actor: ACTOR, correlationId });
      } finally {
        await runner.query('SELECT pg_advisory_unlock(hashtext($1))', [LOCK_KEY]);
      }
    } finally {
      await runner.release();
    }
  }

  private async locked(triggeredBy: string, ctx: SagaContext): Promise<ReconcileResult> {
    const passes = this.dataSource.getRepository(ReconcilePassEntity);
    const pass = await passes.save(passes.create({ triggeredBy }));
    try {
      const stuck = await this.stuckTenants();
      let redriven = 0;
      for (const tenant of stuck) if (await this.redriveTenant(tenant, ctx)) redriven++;
      redriven += await this.redriveRollouts(ctx);
      await passes.update(
        { id: pass.id },
        { finishedAt: () => 'now()', tenantsChecked: stuck.length, redriven },
      );
      this.log.info({ passId: pass.id, tenantsChecked: stuck.length, redriven }, 'reconcile pass done');
      return { passId: pass.id, tenantsChecked: stuck.length, redriven };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await passes
        .update({ id: pass.id }, { finishedAt: () => 'now()', error: message })
        .catch(() => undefined);
      throw error;
    }
  }

  /** Tenants in a saga whose record has not moved for the grace period. */
  private stuckTenants(): Promise<StuckCandidate[]> {
    return this.dataSource.query<StuckCandidate[]>(
      `SELECT t.id, t.slug, t.tier, t.status, t.provisioning_run
         FROM tenants t
        WHERE t.status IN ('PENDING', 'PROVISIONING', 'DEPROVISIONING')
          AND GREATEST(t.updated_at,
                       coalesce((SELECT max(s.updated_at) FROM provisioning_steps s WHERE s.tenant_id = t.id), t.updated_at))
              < now() - $1 * interval '1 millisecond'
        ORDER BY t.created_at`,
      [this.settings.stuckGraceMs],
    );
  }

  private async redriveTenant(tenant: StuckCandidate, ctx: SagaContext): Promise<boolean> {
    const [jobName, jobId] =
      tenant.status === 'DEPROVISIONING'
        ? [DEPROVISION_TENANT_JOB, deprovisionJobId(tenant.id)]
        : [PROVISION_TENANT_JOB, provisionJobId(tenant.id, tenant.provisioning_run)];
    if (await this.waiting(jobId)) return false;
    await this.queue.discardFinished(jobId);
    await this.dataSource.transaction(async (em) => {
      // Only if the tenant is still where it was when the pass looked.
      const still = await em.query<unknown[]>(
        `SELECT 1 FROM tenants WHERE id = $1 AND status = $2 FOR UPDATE`,
        [tenant.id, tenant.status],
      );
      if (!still.length) return;
      await writeOutboxJob(em, {
        name: jobName,
        id: jobId,
        payload: { tenantId: tenant.id },
        priority: tierPriority(tenant.tier),
      });
      await appendTenantEvent(
        em,
        tenant.id,
        {
          type: 'tenant.redriven',
          message: `${tenant.slug} was ${tenant.status} with no job in the queue; its job ${jobId} was queued again`,
          data: { jobId, status: tenant.status },
        },
        ctx,
      );
    });
    this.log.warn({ tenantId: tenant.id, jobId, status: tenant.status }, 'tenant had no live job; re-driven');
    return true;
  }

  /** Rollout tenants whose job is gone, dispatched again; every RUNNING rollout advanced. */
  private async redriveRollouts(ctx: SagaContext): Promise<number> {
    const rollouts = await this.dataSource.query<{ id: string }[]>(
      `SELECT id FROM schema_rollouts WHERE status = 'RUNNING'`,
    );
    let redriven = 0;
    for (const { id } of rollouts) {
      const running = await this.dataSource.query<{ tenant_id: string; attempt: number }[]>(
        `SELECT tenant_id, attempt FROM schema_rollout_tenants
          WHERE rollout_id = $1 AND state = 'running' AND started_at < now() - $2 * interval '1 millisecond'`,
        [id, this.settings.stuckGraceMs],
      );
      const lost: typeof running = [];
      for (const row of running)
        if (!(await this.waiting(migrateJobId(id, row.tenant_id, row.attempt)))) lost.push(row);
      await this.dataSource.transaction(async (em) => {
        const rollout = await lockRollout(em, id);
        if (!rollout) return;
        for (const row of lost) {
          const result = await em.update(
            SchemaRolloutTenantEntity,
            { rolloutId: id, tenantId: row.tenant_id, state: 'running', attempt: row.attempt },
            { state: 'pending', failures: 0 },
          );
          if (result.affected) redriven++;
        }
        if (lost.length) {
          await appendRolloutEvent(
            em,
            id,
            ctx,
            'rollout.redriven',
            `${lost.length} tenant(s) had lost their job and were dispatched again`,
            {
              tenants: lost.map((r) => r.tenant_id),
            },
          );
        }
        await advanceRollout(em, rollout, ctx);
      });
    }
    return redriven;
  }

  /** The job is in the queue to run, or its outbox row is still to be relayed. */
  private async waiting(jobId: string): Promise<boolean> {
    const [{ pending }] = await this.dataSource.query<{ pending: boolean }[]>(
      `SELECT EXISTS (SELECT 1 FROM outbox WHERE job_id = $1 AND dispatched_at IS NULL) AS pending`,
      [jobId],
    );
    return pending || (await this.queue.isLive(jobId));
  }
}
