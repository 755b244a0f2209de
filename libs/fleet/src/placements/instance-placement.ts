import { appLoginRoles } from '@silo/tenant-schema';
import {
  PROVISION_STEPS,
  ProvisioningSteps,
  type ProvisionStep,
  type StepDeps,
  type StepRun,
} from '../saga/provisioning-steps';
import { ALARM_METRICS } from '../saga/tenant-alarm-specs';
import type { SagaLog, StepCompletion } from '../store/provisioning-store';
import {
  unknownStep,
  type PlacementLifecycle,
  type PlacementStepResult,
  type UndoResult,
} from './placement-lifecycle';

export const INSTANCE_DEPROVISION_STEPS = [
  'remove-alarms',
  'delete-instance',
  'remove-local-database',
  'schedule-secret-deletion',
  'mark-deleted',
] as const;

/**
 * `instance`: the tenant's own encrypted RDS instance (the silo model), its master and app
 * secrets and its alarms. Deprovisioning lifts nothing by hand: a final snapshot
 * `<prefix>-<slug>-final-<timestamp>` where the tier keeps backups, the instance deleted (and
 * waited for), secrets scheduled for deletion with a recovery window.
 */
export class InstancePlacement implements PlacementLifecycle {
  readonly placement = 'instance' as const;
  readonly provisionSteps = PROVISION_STEPS;
  readonly deprovisionSteps = INSTANCE_DEPROVISION_STEPS;
  private readonly steps: ProvisioningSteps;

  constructor(
    private readonly deps: StepDeps,
    private readonly log: SagaLog,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.steps = new ProvisioningSteps(deps, log);
  }

  provision(step: string, run: StepRun, completion: StepCompletion): Promise<PlacementStepResult> {
    if (!(PROVISION_STEPS as readonly string[]).includes(step)) throw unknownStep(this.placement, step);
    return this.steps.run(step as ProvisionStep, run, completion);
  }

  async undo(step: string, run: StepRun): Promise<UndoResult> {
    const { rds, secrets, alarms, host } = this.deps;
    const { names, tenant } = run;
    switch (step) {
      case 'activate':
      case 'run-migrations':
      case 'publish-connection':
        // Nothing of their own outside the database, which goes with the instance.
        return { kind: 'done' };
      case 'create-alarms':
        await alarms.delete(ALARM_METRICS.map((m) => names.alarmName(m)));
        return { kind: 'done' };
      case 'bootstrap-database':
        await secrets.delete(names.appSecretName, { force: true }, tenant.id);
        return { kind: 'done' };
      case 'wait-available':
        await host.remove({
          identifier: names.instanceIdentifier,
          roles: [...appLoginRoles(names.appRole), names.appRole, names.masterUsername],
        });
        return { kind: 'done' };
      case 'create-instance': {
        const outcome = await rds.delete(names.instanceIdentifier, { ownerTenantId: tenant.id });
        // An instance still being created is waited for, never abandoned; one being deleted
        // counts as undone only once RDS no longer knows it.
        if (outcome === 'busy') return { kind: 'wait', reason: 'instance cannot be deleted yet' };
        if (
          (outcome === 'deleting' || outcome === 'already-deleting') &&
          (await rds.describe(names.instanceIdentifier))
        ) {
          return { kind: 'wait', reason: 'instance is being deleted' };
        }
        return { kind: 'done' };
      }
      case 'prepare-credentials':
        await secrets.delete(names.masterSecretName, { force: true }, tenant.id);
        return { kind: 'done' };
      default:
        throw unknownStep(this.placement, step);
    }
  }

  async deprovision(step: string, run: StepRun, completion: StepCompletion): Promise<PlacementStepResult> {
    const { rds, secrets, alarms, host, store, settings } = this.deps;
    const { tenant, names, ctx } = run;
    switch (step) {
      case 'remove-alarms':
        await alarms.delete(ALARM_METRICS.map((m) => names.alarmName(m)));
        return { kind: 'done' };
      case 'delete-instance': {
        const keepsBackups = settings.tiers[tenant.tier].backupRetentionDays > 0;
        const finalSnapshotIdentifier = keepsBackups ? names.finalSnapshotIdentifier(this.now()) : undefined;
        // The backend keeps the final snapshot's data (the local one: a dump) while the database is there.
        if (finalSnapshotIdentifier && (await rds.describe(names.instanceIdentifier))?.status === 'available')
          await host.snapshot({
            identifier: names.instanceIdentifier,
            snapshotIdentifier: finalSnapshotIdentifier,
          });
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
      default:
        throw unknownStep(this.placement, step);
    }
  }
}
