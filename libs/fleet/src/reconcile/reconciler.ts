import { ReconcilePassEntity, SchemaRolloutTenantEntity, TenantEntity } from '@silo/control-plane-db';
import { TenantError, type TierName } from '@silo/core';
import type { DataSource } from 'typeorm';
import { writeOutboxJob } from '../jobs/outbox';
import { startDueHostRotations } from '../hosts/host-rotations.service';
import {
  DEPROVISION_TENANT_JOB,
  deprovisionJobId,
  changeJob,
  PROVISION_TENANT_JOB,
  provisionJobId,
  tierPriority,
} from '../jobs/provisioning-jobs';
import { requestRotation } from '../changes/tenant-changes.service';
import { advanceRollout, appendRolloutEvent, lockRollout, migrateJob } from '../rollouts/rollout-dispatch';
import type { SagaContext, SagaLog } from '../store/provisioning-store';
import { appendTenantEvent } from '../store/typeorm-provisioning-store';
import {
  FleetCheck,
  type FleetAccess,
  type FleetCheckResult,
  type FleetSettings,
  type RegionalFleet,
} from './fleet-check';
import { LostHostJobs } from './lost-host-jobs';

/** What a change of each kind is called in the reconciler's events. */
const CHANGE_LABELS = {
  tier: 'tier change',
  rotation: 'credential rotation',
  move: 'move',
  restore: 'restore',
  undelete: 'undelete',
} as const;

/** What the reconciler asks of the queue (libs/queue's ProvisioningQueue fits). */
export interface ReconcileQueue {
  /** `live`: waiting, prioritised, delayed or active; `missing`: removed, or lost with Redis. */
  jobFate(jobId: string): Promise<'live' | 'completed' | 'failed' | 'missing'>;
  /** Removes a completed job, so that its id can be added again. */
  discardCompleted(jobId: string): Promise<void>;
  /** Removes a failed job, so that a shared host's job can be added again; without it a failed host job is only logged. */
  discardFailed?(jobId: string): Promise<void>;
}

export interface ReconcileResult {
  passId: string;
  tenantsChecked: number;
  redriven: number;
  /** Null when the fleet could not be read this pass (the pass's `error` says why). */
  fleet: FleetCheckResult | null;
}

type Fate = 'queued' | 'live' | 'completed' | 'failed' | 'missing';

const LOCK_KEY = 'silo:reconciler';
/** Scheduled credential rotations a pass starts at most. */
const ROTATIONS_PER_PASS = 25;
const ACTOR = 'system:reconciler';

interface StuckCandidate {
  id: string;
  slug: string;
  tier: TierName;
  status: 'PENDING' | 'PROVISIONING' | 'DEPROVISIONING';
  provisioning_run: number;
  version: number;
}

/**
 * The reconcile pass: looks again at what Silo recorded and puts right what a lost job left
 * behind. One pass runs at a time across every worker (a PostgreSQL advisory lock; a second
 * pass finds it taken and returns 'busy').
 *
 * Today a pass re-drives:
 * - tenants PENDING, PROVISIONING or DEPROVISIONING, unchanged for `stuckGraceMs`, whose
 *   current job is missing from the queue (a Redis flush or failover, a purged set) or completed
 *   while the tenant did not settle: the job is queued again under its deterministic id, with a
 *   `tenant.redriven` event. A job BullMQ gave up on (`failed`) is reported, not revived;
 * - rollout tenants marked running for `stuckGraceMs` whose job is missing: dispatched again;
 *   whose job failed in the queue: recorded as failed, so that the failure threshold sees it;
 *   and every RUNNING rollout is advanced, so that one never stalls with room to dispatch;
 * - shared hosts creating, deleting or compensating a failed creation, unchanged for
 *   `stuckGraceMs`, whose job is missing, completed or failed in the queue ({@link LostHostJobs}).
 * Then it compares every ACTIVE and SUSPENDED tenant and every available shared host with its
 * tier profile and looks for orphans ({@link FleetCheck}).
 * What cannot be read now (Redis or AWS away) is left for the next pass, and the pass records why.
 */
export class Reconciler {
  constructor(
    private readonly dataSource: DataSource,
    private readonly queue: ReconcileQueue,
    private readonly settings: { stuckGraceMs: number; credentialRotationDays?: number },
    /** `regions`: every configured region's access and settings; without it, `access` alone is looked at. */
    private readonly fleet: {
      access: FleetAccess;
      settings: FleetSettings;
      regions?: readonly RegionalFleet[];
      defaultRegion?: string;
    },
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
    const problems: string[] = [];
    let checked = 0;
    let redriven = 0;
    try {
      const stuck = await this.stuckTenants();
      checked = stuck.length;
      for (const tenant of stuck) {
        try {
          if (await this.redriveTenant(tenant, ctx)) redriven++;
        } catch (error) {
          problems.push(`${tenant.slug}: ${message(error)}`);
        }
      }
      redriven += await this.redriveRollouts(ctx, problems);
      redriven += await this.redriveChanges(ctx, problems);
      redriven += await this.redriveHosts(problems);
      await this.rotateDueCredentials(ctx, problems);
    } catch (error) {
      problems.push(message(error));
    }
    let fleet: FleetCheckResult | null = null;
    let alarmsCheckedAfter: string | null = null;
    try {
      const previous = await passes
        .createQueryBuilder('p')
        .where('p.finished_at IS NOT NULL')
        .orderBy('p.started_at', 'DESC')
        .limit(1)
        .getOne();
      alarmsCheckedAfter = previous?.alarmsCheckedThrough ?? null;
      const { regions, defaultRegion } = this.fleet;
      fleet =
        regions && defaultRegion
          ? await FleetCheck.everyRegion(
              this.dataSource,
              regions,
              defaultRegion,
              this.log,
              ctx,
              alarmsCheckedAfter,
            )
          : await new FleetCheck(this.dataSource, this.fleet.access, this.fleet.settings, this.log).run(
              ctx,
              alarmsCheckedAfter,
            );
      checked += fleet.checked;
    } catch (error) {
      problems.push(`drift and orphans: ${message(error)}`);
    }
    const error = problems.length
      ? `${problems.length} item(s) could not be checked, left for the next pass: ${problems.slice(0, 3).join('; ')}`
      : null;
    await passes.update(
      { id: pass.id },
      {
        finishedAt: () => 'now()',
        tenantsChecked: checked,
        redriven,
        error,
        // A pass that could not read the fleet keeps the alarm window where it was.
        alarmsCheckedThrough: fleet ? fleet.alarmsCheckedThrough : alarmsCheckedAfter,
        ...(fleet && {
          driftChecked: fleet.checked,
          hostsChecked: fleet.hostsChecked,
          driftRepaired: fleet.repaired,
          driftReported: fleet.reported,
          driftCritical: fleet.critical,
          orphans: fleet.orphans,
        }),
      },
    );
    this.log.info(
      {
        passId: pass.id,
        tenantsChecked: checked,
        redriven,
        unchecked: problems.length,
        // The detail behind the pass's error: the API shows only its code.
        ...(error && { error }),
        ...(fleet && {
          hostsChecked: fleet.hostsChecked,
          driftRepaired: fleet.repaired,
          driftReported: fleet.reported,
          driftCritical: fleet.critical,
          orphans: fleet.orphans,
        }),
      },
      'reconcile pass done',
    );
    return { passId: pass.id, tenantsChecked: checked, redriven, fleet };
  }

  /** Shared hosts in a saga without a live job, queued again; see {@link LostHostJobs}. */
  private redriveHosts(problems: string[]): Promise<number> {
    return new LostHostJobs(this.dataSource, this.queue, this.settings.stuckGraceMs, this.log).run(problems);
  }

  /** Tenants in a saga whose record has not moved for the grace period. */
  private stuckTenants(): Promise<StuckCandidate[]> {
    return this.dataSource.query<StuckCandidate[]>(
      `SELECT t.id, t.slug, t.tier, t.status, t.provisioning_run, t.version
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
        ? [DEPROVISION_TENANT_JOB, deprovisionJobId(tenant.id, tenant.provisioning_run)]
        : [PROVISION_TENANT_JOB, provisionJobId(tenant.id, tenant.provisioning_run)];
    const fate = await this.fate(jobId);
    if (fate === 'queued' || fate === 'live') return false;
    if (fate === 'failed') {
      this.log.warn(
        { tenantId: tenant.id, jobId, status: tenant.status },
        'tenant job failed in the queue (attempts used up or stalled too often); not revived, see the worker logs',
      );
      return false;
    }
    await this.queue.discardCompleted(jobId);
    return this.dataSource.transaction(async (em) => {
      // Only if the tenant has not changed at all since the pass looked (its run and version too).
      const still = await em.query<unknown[]>(
        `SELECT 1 FROM tenants WHERE id = $1 AND status = $2 AND provisioning_run = $3 AND version = $4 FOR UPDATE`,
        [tenant.id, tenant.status, tenant.provisioning_run, tenant.version],
      );
      if (!still.length) return false;
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
          data: { jobId, status: tenant.status, found: fate },
        },
        ctx,
      );
      this.log.warn(
        { tenantId: tenant.id, jobId, status: tenant.status },
        'tenant had no live job; re-driven',
      );
      return true;
    });
  }

  /**
   * Rollout tenants whose job is missing, dispatched again; whose job failed in the queue,
   * failed; every RUNNING rollout advanced.
   */
  private async redriveRollouts(ctx: SagaContext, problems: string[]): Promise<number> {
    const rollouts = await this.dataSource.query<{ id: string }[]>(
      `SELECT id FROM schema_rollouts WHERE status = 'RUNNING'`,
    );
    let redriven = 0;
    for (const { id } of rollouts) {
      const running = await this.dataSource.query<
        { tenant_id: string; pool_host_id: string | null; attempt: number }[]
      >(
        `SELECT tenant_id, pool_host_id, attempt FROM schema_rollout_tenants
          WHERE rollout_id = $1 AND state = 'running' AND started_at < now() - $2 * interval '1 millisecond'`,
        [id, this.settings.stuckGraceMs],
      );
      const lost: typeof running = [];
      const failed: typeof running = [];
      // A pool host's tenants share one job: asked about once, the same fate for each of them.
      const fates = new Map<string, Promise<Fate>>();
      for (const row of running) {
        try {
          const jobId = migrateJob(id, row, row.attempt).id;
          if (!fates.has(jobId)) fates.set(jobId, this.fate(jobId));
          const fate = await fates.get(jobId)!;
          if (fate === 'missing' || fate === 'completed') lost.push(row);
          else if (fate === 'failed') failed.push(row);
        } catch (error) {
          problems.push(`rollout ${id}: ${message(error)}`);
        }
      }
      redriven += await this.dataSource.transaction(async (em) => {
        const rollout = await lockRollout(em, id);
        if (!rollout) return 0;
        const moved: string[] = [];
        for (const row of lost) {
          const result = await em.update(
            SchemaRolloutTenantEntity,
            { rolloutId: id, tenantId: row.tenant_id, state: 'running', attempt: row.attempt },
            { state: 'pending', failures: 0 },
          );
          if (result.affected) moved.push(row.tenant_id);
        }
        for (const row of failed) {
          await em.update(
            SchemaRolloutTenantEntity,
            { rolloutId: id, tenantId: row.tenant_id, state: 'running', attempt: row.attempt },
            {
              state: 'failed',
              errorCode: 'JOB_FAILED',
              errorMessage:
                'its job failed in the queue (the worker died running it too often); see the worker logs',
              finishedAt: () => 'now()',
            },
          );
        }
        if (moved.length) {
          await appendRolloutEvent(
            em,
            id,
            ctx,
            'rollout.redriven',
            `${moved.length} tenant(s) had lost their job and were dispatched again`,
            { tenants: moved },
          );
        }
        await advanceRollout(em, rollout, ctx);
        return moved.length;
      });
    }
    return redriven;
  }

  /**
   * Open changes: a RUNNING one (tier change, rotation or move) unchanged for the grace period whose job is gone is queued
   * again (`tenant.redriven`); one PENDING_MAINTENANCE gets its job back every pass, quietly, to
   * look whether RDS has applied the pending values.
   */
  private async redriveChanges(ctx: SagaContext, problems: string[]): Promise<number> {
    const open = await this.dataSource.query<
      {
        tenant_id: string;
        run: number;
        kind: 'tier' | 'rotation' | 'move' | 'restore' | 'undelete';
        status: string;
        slug: string;
        tier: TierName;
        quiet: boolean;
      }[]
    >(
      `SELECT c.tenant_id, c.run, c.kind, c.status, t.slug, t.tier,
              GREATEST(c.updated_at, coalesce((SELECT max(s.updated_at) FROM provisioning_steps s
                                                WHERE s.tenant_id = c.tenant_id AND s.saga IN ('modify', 'rotate', 'move', 'restore', 'undelete')
                                                  AND s.run = c.run),
                                              c.updated_at))
                < now() - $1 * interval '1 millisecond' AS quiet
         FROM tenant_changes c JOIN tenants t ON t.id = c.tenant_id
        WHERE c.status IN ('RUNNING', 'PENDING_MAINTENANCE')
        ORDER BY c.created_at`,
      [this.settings.stuckGraceMs],
    );
    let redriven = 0;
    for (const change of open) {
      if (change.status === 'RUNNING' && !change.quiet) continue;
      const { name: jobName, id: jobId } = changeJob(change.kind, change.tenant_id, change.run);
      try {
        const fate = await this.fate(jobId);
        if (fate === 'queued' || fate === 'live') continue;
        if (fate === 'failed') {
          this.log.warn(
            { tenantId: change.tenant_id, jobId },
            'tier change job failed in the queue; not revived',
          );
          continue;
        }
        await this.queue.discardCompleted(jobId);
        await this.dataSource.transaction(async (em) => {
          await writeOutboxJob(em, {
            name: jobName,
            id: jobId,
            payload: { tenantId: change.tenant_id },
            priority: tierPriority(change.tier),
          });
          if (change.status !== 'RUNNING') return;
          await appendTenantEvent(
            em,
            change.tenant_id,
            {
              type: 'tenant.redriven',
              message: `${change.slug}'s ${CHANGE_LABELS[change.kind]} had no job in the queue; its job ${jobId} was queued again`,
              data: { jobId, change: change.run, found: fate },
            },
            ctx,
          );
        });
        if (change.status === 'RUNNING') redriven++;
      } catch (error) {
        problems.push(`${change.slug} change ${change.run}: ${message(error)}`);
      }
    }
    return redriven;
  }

  /**
   * With CREDENTIAL_ROTATION_DAYS set: starts a rotation of the credentials a tenant owns (an
   * instance tenant's app login and master, a schema tenant's app login on its host) for up to
   * ROTATIONS_PER_PASS live tenants whose last successful rotation (or creation) is older than
   * that, none of them held by another change or a rollout's migration, and of the pool login of
   * pool hosts as old (HostRotations.startDue). Spread over passes, so that a fleet provisioned on
   * one day is not rotated all at once.
   */
  private async rotateDueCredentials(ctx: SagaContext, problems: string[]): Promise<void> {
    const days = this.settings.credentialRotationDays ?? 0;
    if (days <= 0) return;
    const due = await this.dataSource.query<{ id: string }[]>(
      `SELECT t.id FROM tenants t
        WHERE t.status IN ('ACTIVE', 'SUSPENDED') AND t.placement IN ('instance', 'schema')
          AND NOT EXISTS (SELECT 1 FROM tenant_changes c
                           WHERE c.tenant_id = t.id AND c.status IN ('RUNNING', 'PENDING_MAINTENANCE'))
          AND NOT EXISTS (SELECT 1 FROM schema_rollout_tenants r WHERE r.tenant_id = t.id AND r.state = 'running')
          AND coalesce((SELECT max(c.finished_at) FROM tenant_changes c
                         WHERE c.tenant_id = t.id AND c.kind = 'rotation' AND c.status = 'SUCCEEDED'),
                       t.created_at) < now() - $1 * interval '1 day'
        ORDER BY t.created_at
        LIMIT ${ROTATIONS_PER_PASS}`,
      [days],
    );
    for (const { id } of due) {
      const tenant = await this.dataSource.getRepository(TenantEntity).findOneBy({ id });
      if (!tenant) continue;
      try {
        await requestRotation(this.dataSource, tenant, undefined, ctx);
        this.log.info({ tenantId: id }, `credentials older than ${days} days; rotation started`);
      } catch (error) {
        // Taken by a change meanwhile: the next pass looks again.
        if (error instanceof TenantError) continue;
        problems.push(`${tenant.slug} rotation: ${message(error)}`);
      }
    }
    // A pooled tenant's login is its host's pool login: rotated with the host, on the same schedule.
    try {
      await startDueHostRotations(this.dataSource, days, ctx, this.log);
    } catch (error) {
      problems.push(`pool-login rotations: ${message(error)}`);
    }
  }

  /** Where the job stands; `queued` while its outbox row is still to be relayed. */
  private async fate(jobId: string): Promise<Fate> {
    const [{ pending }] = await this.dataSource.query<{ pending: boolean }[]>(
      `SELECT EXISTS (SELECT 1 FROM outbox WHERE job_id = $1 AND dispatched_at IS NULL) AS pending`,
      [jobId],
    );
    return pending ? 'queued' : this.queue.jobFate(jobId);
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
