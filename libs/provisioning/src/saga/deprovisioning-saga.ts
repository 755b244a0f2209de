import { appLoginRoles } from '@silo/tenant-schema';
import { ProvisioningError, tenantResourceNames } from '@silo/core';
import type { SagaContext, SagaLog, StepCompletion, TenantRecord } from '../store/provisioning-store';
import { backoffDelay } from './backoff';
import { StepJournal } from './step-journal';
import { passUnderTenantLock } from './tenant-pass';
import type { SagaOutcome } from './provisioning-saga';
import type { StepDeps } from './provisioning-steps';
import { ALARM_METRICS } from './tenant-alarm-specs';

export const DEPROVISION_STEPS = [
  'remove-alarms',
  'delete-instance',
  'remove-local-database',
  'schedule-secret-deletion',
  'mark-deleted',
] as const;
export type DeprovisionStep = (typeof DEPROVISION_STEPS)[number];

const SAGA = 'deprovision' as const;

type DeprovisionStepResult =
  { kind: 'done'; data?: Record<string, unknown>; recorded?: true } | { kind: 'wait'; reason: string };

/**
 * Takes a DEPROVISIONING tenant to DELETED: alarms removed, deletion protection lifted, a final
 * snapshot `<prefix>-<slug>-final-<timestamp>` where the tier keeps backups, the instance
 * deleted (and waited for), secrets scheduled for deletion with a recovery window. Idempotent
 * and resumable like provisioning; every failure is retried (deletion has no way back).
 */
export class DeprovisioningSaga {
  constructor(
    private readonly deps: StepDeps,
    private readonly log: SagaLog,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async run(tenantId: string, ctx: SagaContext): Promise<SagaOutcome> {
    return passUnderTenantLock(this.deps, tenantId, () => this.pass(tenantId, ctx));
  }

  private async pass(tenantId: string, ctx: SagaContext): Promise<SagaOutcome> {
    const { store, settings } = this.deps;
    const tenant = await store.getTenant(tenantId);
    if (!tenant) return { kind: 'finished', status: 'MISSING' };
    if (tenant.status !== 'DEPROVISIONING') return { kind: 'finished', status: tenant.status };

    const records = await store.getSteps(tenant.id, SAGA);
    const journal = new StepJournal(store, tenant.id, SAGA, ctx, this.now);
    for (const [position, step] of DEPROVISION_STEPS.entries()) {
      const record = records.get(step);
      if (record?.status === 'done') continue;
      const attempts = await journal.started(step, position, record);
      let result: DeprovisionStepResult;
      try {
        result = await this.step(step, tenant, ctx, journal.completion(step, position, attempts));
      } catch (error) {
        if (!(error instanceof ProvisioningError)) throw error;
        const failures = (record?.failures ?? 0) + 1;
        const delayMs = backoffDelay(failures, settings.retry.baseDelayMs, settings.retry.maxDelayMs);
        this.log.warn(
          { tenantId, step, failures, code: error.code, err: error.message, delayMs },
          'deprovisioning step failed; will retry',
        );
        await journal.retrying(step, position, failures, error, delayMs);
        return { kind: 'delay', delayMs, reason: `${step} retry` };
      }
      if (result.kind === 'wait') {
        await journal.waiting(step, position, record, result.reason);
        return {
          kind: 'delay',
          delayMs: backoffDelay(attempts, settings.wait.initialDelayMs, settings.wait.maxDelayMs),
          reason: `${step}: ${result.reason}`,
        };
      }
      if (!result.recorded) await journal.completed(step, position, attempts, result.data);
    }
    return { kind: 'finished', status: 'DELETED' };
  }

  private async step(
    step: DeprovisionStep,
    tenant: TenantRecord,
    ctx: SagaContext,
    completion: StepCompletion,
  ): Promise<DeprovisionStepResult> {
    const { rds, secrets, alarms, host, store, settings } = this.deps;
    const names = tenantResourceNames(settings.prefix, tenant.slug);
    switch (step) {
      case 'remove-alarms':
        await alarms.delete(ALARM_METRICS.map((m) => names.alarmName(m)));
        return { kind: 'done' };
      case 'delete-instance': {
        const keepsBackups = settings.tiers[tenant.tier].backupRetentionDays > 0;
        const finalSnapshotIdentifier = keepsBackups ? names.finalSnapshotIdentifier(this.now()) : undefined;
        const outcome = await rds.delete(names.instanceIdentifier, {
          ownerTenantId: tenant.id,
          finalSnapshotIdentifier,
        });
        if (outcome === 'busy')
          return { kind: 'wait', reason: 'instance cannot be deleted in its current state' };
        if (outcome === 'not-ours') {
          this.log.warn(
            { tenantId: tenant.id, instance: names.instanceIdentifier },
            'instance is not tagged for this tenant; left untouched',
          );
          return { kind: 'done', data: { skipped: 'instance not tagged for this tenant' } };
        }
        if (outcome === 'deleting' || outcome === 'already-deleting') {
          // Deleted only once RDS no longer knows it: later passes look again.
          const still = await rds.describe(names.instanceIdentifier);
          const requested =
            outcome === 'deleting'
              ? `deletion requested, final snapshot ${finalSnapshotIdentifier ?? 'none'}`
              : 'deleting';
          if (still) return { kind: 'wait', reason: requested };
        }
        return {
          kind: 'done',
          data: outcome === 'deleting' ? { finalSnapshotIdentifier: finalSnapshotIdentifier ?? null } : {},
        };
      }
      case 'remove-local-database':
        await host.remove({
          identifier: names.instanceIdentifier,
          roles: [...appLoginRoles(names.appRole), names.appRole, names.masterUsername],
        });
        return { kind: 'done' };
      case 'schedule-secret-deletion': {
        const mode = { recoveryWindowDays: settings.secretRecoveryWindowDays };
        await secrets.delete(names.appSecretName, mode, tenant.id);
        await secrets.delete(names.masterSecretName, mode, tenant.id);
        return { kind: 'done', data: { recoveryWindowDays: settings.secretRecoveryWindowDays } };
      }
      case 'mark-deleted':
        // DELETED and this step done in one transaction.
        await store.transition(
          tenant.id,
          'DEPROVISIONING',
          'DELETED',
          { sagaStartedAt: null, completeStep: completion },
          { type: 'tenant.deleted', message: `tenant ${tenant.slug} is DELETED`, data: {} },
          ctx,
        );
        return { kind: 'done', recorded: true };
    }
  }
}
