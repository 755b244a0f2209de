import { TenantRestoreCopyEntity } from '@silo/control-plane-db';
import type { DataSource, EntityManager } from 'typeorm';
import { removeInstanceWithoutSnapshot } from '../backends/instance-lifecycle';
import { writeOutboxJob } from '../jobs/outbox';
import { REMOVE_RESTORE_COPY_JOB, removeRestoreCopyJobId } from '../jobs/provisioning-jobs';
import type { SagaOutcome } from '../saga/provisioning-saga';
import type { StepDeps } from '../saga/provisioning-steps';
import { stepDepsInRegion } from '../saga/regional-deps';
import type { SagaContext, SagaLog } from '../store/provisioning-store';
import { appendTenantEvent } from '../store/typeorm-provisioning-store';
import type { RestorePlan } from './restore-plan';

const WAIT_MS = 5_000;

/**
 * Removes what a restore made for its copy: the instance (no final snapshot: the tenant's own
 * backups are untouched), its logins on the local backend's server, and its two secrets at once
 * (no recovery window: the data they open is gone). Idempotent; `wait` while RDS deletes.
 * `keepAutomatedBackups`: the copy is the instance the tenant ran on before a restore in place,
 * whose automated backups are the tenant's history before it: RDS keeps them as retained
 * automated backups until their retention period ends.
 */
export async function removeRestoreCopyInstance(
  deps: StepDeps,
  tenantId: string,
  copy: RestorePlan['copy'],
  options: { keepAutomatedBackups?: boolean } = {},
): Promise<{ kind: 'removed' } | { kind: 'wait'; reason: string }> {
  const removed = await removeInstanceWithoutSnapshot(deps, {
    identifier: copy.instanceIdentifier,
    ownerTenantId: tenantId,
    roles: [copy.readerRole, copy.masterUsername],
    keepAutomatedBackups: options.keepAutomatedBackups,
  });
  if (removed.kind === 'wait') return { kind: 'wait', reason: `restore copy ${removed.reason}` };
  for (const secret of [copy.readerSecretName, copy.masterSecretName])
    await deps.secrets.delete(secret, { force: true }, tenantId);
  return { kind: 'removed' };
}

/**
 * Brings an AVAILABLE copy's removal forward to now, in the caller's transaction: its expiry is
 * now and a removal job runs at once (another id than the one due at the TTL, which is delayed).
 * False for a copy already being removed or removed.
 */
export async function removeRestoreCopyNow(
  em: EntityManager,
  tenantId: string,
  run: number,
): Promise<boolean> {
  const [rows] = await em.query<[Array<{ run: number }>, number]>(
    `UPDATE tenant_restore_copies SET expires_at = now() WHERE tenant_id = $1 AND run = $2 AND status = 'AVAILABLE' RETURNING run`,
    [tenantId, run],
  );
  if (rows.length === 0) return false;
  await writeOutboxJob(em, {
    name: REMOVE_RESTORE_COPY_JOB,
    id: `${removeRestoreCopyJobId(tenantId, run)}-now`,
    payload: { tenantId, run: String(run) },
  });
  return true;
}

/** Every AVAILABLE copy of the tenant due now (its deletion: no copy outlives the tenant). Returns their runs. */
export async function removeRestoreCopiesNow(em: EntityManager, tenantId: string): Promise<number[]> {
  const copies = await em.query<Array<{ run: number }>>(
    `SELECT run FROM tenant_restore_copies WHERE tenant_id = $1 AND status = 'AVAILABLE' ORDER BY run FOR UPDATE`,
    [tenantId],
  );
  for (const { run } of copies) await removeRestoreCopyNow(em, tenantId, run);
  return copies.map((c) => c.run);
}

/**
 * The removal of a restore copy at its TTL (REMOVE_RESTORE_COPY_JOB, delayed by
 * RESTORE_COPY_TTL_HOURS) or on request: REMOVING, what it made removed, REMOVED.
 */
export class RestoreCopyRemoval {
  constructor(
    private readonly deps: StepDeps,
    private readonly dataSource: DataSource,
    private readonly log: SagaLog,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async run(tenantId: string, run: number, ctx: SagaContext): Promise<SagaOutcome> {
    const copies = this.dataSource.getRepository(TenantRestoreCopyEntity);
    const copy = await copies.findOneBy({ tenantId, run });
    if (!copy || copy.status === 'REMOVED') return { kind: 'finished', status: 'ACTIVE' };
    const left = copy.expiresAt.getTime() - this.now().getTime();
    if (copy.status === 'AVAILABLE' && left > 0)
      return { kind: 'delay', delayMs: left, reason: 'the restore copy is kept until it expires' };
    if (copy.status === 'AVAILABLE')
      await copies.update({ tenantId, run, status: 'AVAILABLE' }, { status: 'REMOVING' });
    const change = await this.dataSource.query<Array<{ plan: RestorePlan }>>(
      `SELECT plan FROM tenant_changes WHERE tenant_id = $1 AND run = $2 AND kind = 'restore'`,
      [tenantId, run],
    );
    const plan = change[0]?.plan;
    if (plan) {
      const regional = stepDepsInRegion(this.deps, plan.region);
      // A restore in place of an instance tenant: the copy is the tenant's former instance.
      const former =
        plan.mode === 'replace' && (plan.placement ?? 'instance') === 'instance' && plan.switched === true;
      const removed = await removeRestoreCopyInstance(regional, tenantId, plan.copy, {
        keepAutomatedBackups: former,
      });
      if (removed.kind === 'wait') return { kind: 'delay', delayMs: WAIT_MS, reason: removed.reason };
    }
    await this.dataSource.transaction(async (em) => {
      await em
        .getRepository(TenantRestoreCopyEntity)
        .update({ tenantId, run }, { status: 'REMOVED', removedAt: this.now() });
      await appendTenantEvent(
        em,
        tenantId,
        {
          type: 'tenant.restore_copy_removed',
          message: `restore copy ${copy.instanceIdentifier} removed`,
          data: { run, instance: copy.instanceIdentifier },
        },
        ctx,
      );
    });
    this.log.warn({ tenantId, run, instance: copy.instanceIdentifier }, 'restore copy removed');
    return { kind: 'finished', status: 'ACTIVE' };
  }
}
