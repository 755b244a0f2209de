import { TERMINAL_INSTANCE_STATES, type InstanceView, type Tags } from '@silo/aws';
import type { TenantChangeEntity } from '@silo/control-plane-db';
import {
  ProvisioningError,
  ProvisioningErrorCode,
  tenantResourceNames,
  tenantTags,
  type TenantResourceNames,
  type TierName,
} from '@silo/core';
import type { SagaOutcome } from '../saga/provisioning-saga';
import type { StepDeps } from '../saga/provisioning-steps';
import { StepJournal } from '../saga/step-journal';
import { ALARM_METRICS, alarmProfile, tenantAlarmSpecs } from '../saga/tenant-alarm-specs';
import { passUnderTenantLock } from '../saga/tenant-pass';
import type {
  SagaContext,
  SagaLog,
  StepCompletion,
  StepRecord,
  TenantRecord,
} from '../store/provisioning-store';
import { openChangeFor, runChangeSteps, type ChangeStepResult } from './change-steps';
import type { ChangeStore } from './change-store';
import { shapeOf } from './tenant-changes.service';
import {
  modificationOf,
  reaches,
  type InstanceShape,
  type SharedTierChangePlan,
  type TierChangePlan,
} from './tier-change-plan';
import { stepDepsInRegion, tenantRegion } from '../saga/regional-deps';

export const MODIFY_STEPS = [
  'modify-instance',
  'wait-modified',
  'update-alarms',
  'update-tags',
  'record-tier',
] as const;
export type ModifyStep = (typeof MODIFY_STEPS)[number];
/** A schema or pool tenant's tier change: no instance of its own, only tags and the tier. */
export const SHARED_MODIFY_STEPS = ['update-tags', 'record-tier'] as const satisfies readonly ModifyStep[];

/** The steps of a tier change by its plan: a shared tenant's has no instance target. */
export function modifySteps(plan: { target: unknown }): readonly ModifyStep[] {
  return plan.target === null ? SHARED_MODIFY_STEPS : MODIFY_STEPS;
}

const SAGA = 'modify' as const;

/** RDS states an instance passes through while it applies a modification. */
const APPLYING = new Set([
  'modifying',
  'storage-optimization',
  'backing-up',
  'rebooting',
  'upgrading',
  'configuring-enhanced-monitoring',
  'configuring-iam-database-auth',
  'configuring-log-exports',
]);

/** Tags of the tenant's resources, besides those alarms carry. */
export interface TagWriter {
  tagInstance(arn: string, tags: Tags): Promise<void>;
  tagSecret(nameOrArn: string, tags: Tags): Promise<void>;
  /** The writer of `region`'s resources (FleetInventory's); absent: this one tags every region. */
  inRegion?(region: string): TagWriter;
}

interface ModifyRun {
  tenant: TenantRecord;
  change: TenantChangeEntity;
  plan: TierChangePlan | SharedTierChangePlan;
  names: TenantResourceNames;
  ctx: SagaContext;
}

/** A tier change of a tenant on its own instance. */
type InstanceModifyRun = ModifyRun & { plan: TierChangePlan };

/**
 * A tier change of a live tenant: ModifyDBInstance with what the plan recorded at request time,
 * a wait (never blocking) while RDS applies it, the four alarms re-thresholded, the `silo:tier`
 * tags, and the new tier recorded only once RDS reports it. With `apply: maintenance-window` the
 * change parks as PENDING_MAINTENANCE once RDS holds the values as pending; the reconciler
 * brings its job back, and it continues when they are applied. The tenant keeps its status and is
 * served throughout. A permanent failure puts the alarms and tags back to the old tier and leaves
 * the tenant on it, with the error on the change.
 */
export class ModifySaga {
  constructor(
    private readonly deps: StepDeps,
    private readonly changes: ChangeStore,
    private readonly tags: TagWriter,
    private readonly log: SagaLog,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async run(tenantId: string, ctx: SagaContext): Promise<SagaOutcome> {
    // A pass works with the tenant's region's clients, backend, key and topic only.
    const region = await tenantRegion(this.deps, tenantId);
    const saga =
      region === this.deps.settings.region
        ? this
        : new ModifySaga(
            stepDepsInRegion(this.deps, region),
            this.changes,
            this.tags.inRegion ? this.tags.inRegion(region) : this.tags,
            this.log,
            this.now,
          );
    return passUnderTenantLock(saga.deps, tenantId, () => saga.pass(tenantId, ctx));
  }

  private async pass(tenantId: string, ctx: SagaContext): Promise<SagaOutcome> {
    const found = await openChangeFor(
      this.deps,
      this.changes,
      tenantId,
      { kind: 'tier', what: 'tier change', firstStep: 'modify-instance' },
      ctx,
    );
    if ('outcome' in found) return found.outcome;
    const { tenant, change } = found;
    const run: ModifyRun = {
      tenant,
      change,
      plan: change.plan as unknown as TierChangePlan | SharedTierChangePlan,
      names: tenantResourceNames(this.deps.settings.prefix, tenant.slug),
      ctx,
    };
    return runChangeSteps({
      deps: this.deps,
      saga: SAGA,
      tenantId,
      status: tenant.status,
      ctx,
      log: this.log,
      now: this.now,
      steps: modifySteps(run.plan),
      step: (step, position, journal, attempts) => this.step(step, run, position, journal, attempts),
      fail: (step, _position, error) => this.fail(run, step, error),
    });
  }

  private step(
    step: ModifyStep,
    run: ModifyRun,
    position: number,
    journal: StepJournal,
    attempts: number,
  ): Promise<ChangeStepResult> {
    if (step === 'record-tier')
      return this.recordTier(run, journal.completion('record-tier', position, attempts));
    const plan = run.plan;
    if (plan.target === null) {
      if (step === 'update-tags') return this.putSharedTags(run, run.change.to as TierName);
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `a ${run.tenant.placement} tenant's tier change has no ${step} step`,
      );
    }
    const instancePlan = { ...run, plan };
    switch (step) {
      case 'modify-instance':
        return this.modifyInstance(instancePlan);
      case 'wait-modified':
        return this.waitModified(instancePlan);
      case 'update-alarms':
        return this.putAlarms(run, run.change.to as TierName, plan.target.allocatedGiB);
      case 'update-tags':
        return this.putTags(run, run.change.to as TierName);
    }
  }

  /**
   * Sends only what still differs from the plan (the instance with its pending values laid
   * over), so that a re-run after a crash never asks twice for what RDS already took.
   */
  private async modifyInstance(run: InstanceModifyRun): Promise<ChangeStepResult> {
    const { rds, settings } = this.deps;
    const view = await this.instance(run);
    if (APPLYING.has(view.status)) return { kind: 'wait', reason: `instance is ${view.status}` };
    const modification = modificationOf(shapeOf(view), run.plan.target);
    if (Object.keys(modification).length) {
      await rds.modify(view.identifier, modification, {
        applyImmediately: run.change.apply === 'now',
        kmsKeyId: settings.kmsKeyId,
      });
    }
    const last = await this.changes.storageModifiedAt(run.tenant.id);
    if (run.plan.storageChanges && !(last && last >= run.change.createdAt)) {
      await this.changes.markStorageModified(run.tenant.id, this.now());
    }
    return { kind: 'done' };
  }

  private async waitModified(run: InstanceModifyRun): Promise<ChangeStepResult> {
    const view = await this.instance(run);
    if (APPLYING.has(view.status)) return { kind: 'wait', reason: `instance is ${view.status}` };
    if (view.status !== 'available') {
      throw new ProvisioningError(
        ProvisioningErrorCode.INSTANCE_TERMINAL_STATE,
        `RDS instance ${view.identifier} is ${view.status} after the modification`,
      );
    }
    const target = run.plan.target;
    if (reaches(applied(view), target)) {
      if (run.change.status === 'PENDING_MAINTENANCE') {
        await this.changes.setStatus(
          run.change,
          'RUNNING',
          null,
          {
            type: 'tenant.change_applied',
            message: 'RDS applied the pending values',
            data: { run: run.change.run },
          },
          run.ctx,
        );
      }
      return { kind: 'done' };
    }
    const pending = view.pending as Record<string, unknown>;
    if (Object.keys(pending).length && reaches(shapeOf(view), target)) {
      if (run.change.apply === 'now') return { kind: 'wait', reason: 'RDS is applying the modification' };
      await this.changes.setStatus(
        run.change,
        'PENDING_MAINTENANCE',
        pending,
        {
          type: 'tenant.change_pending',
          message: 'RDS holds the modification until the next maintenance window',
          data: { run: run.change.run, pendingModifiedValues: pending },
        },
        run.ctx,
      );
      return { kind: 'parked', reason: 'waiting for the maintenance window' };
    }
    throw new ProvisioningError(
      ProvisioningErrorCode.INCONSISTENT_STATE,
      `RDS instance ${view.identifier} is not what was asked for: ${describeDifference(applied(view), target)}`,
    );
  }

  private async putAlarms(run: ModifyRun, tier: TierName, allocatedGiB: number): Promise<ChangeStepResult> {
    const { alarms, settings } = this.deps;
    const profile = alarmProfile(settings.tiers[tier], allocatedGiB);
    const tags = tenantTags({ ...run.tenant, tier }, settings.environment);
    for (const spec of tenantAlarmSpecs(run.names, profile, { actions: settings.alarmActions, tags })) {
      await alarms.put(spec);
    }
    return { kind: 'done' };
  }

  private async putTags(run: ModifyRun, tier: TierName): Promise<ChangeStepResult> {
    const { alarms, settings } = this.deps;
    const tags = tenantTags({ ...run.tenant, tier }, settings.environment);
    const view = await this.instance(run);
    await this.tags.tagInstance(view.arn, tags);
    await this.tags.tagSecret(run.names.masterSecretName, tags);
    await this.tags.tagSecret(run.names.appSecretName, tags);
    await alarms.tag(
      ALARM_METRICS.map((m) => run.names.alarmName(m)),
      tags,
    );
    return { kind: 'done' };
  }

  /**
   * A shared tenant's own resources with the tier: a schema tenant's app secret (its host's
   * instance, secrets and alarms are the host's and keep the host's tier); a pooled tenant has none.
   */
  private async putSharedTags(run: ModifyRun, tier: TierName): Promise<ChangeStepResult> {
    if (run.tenant.placement !== 'schema') {
      return { kind: 'done', data: { skipped: 'a pooled tenant has no resources of its own to tag' } };
    }
    await this.tags.tagSecret(
      run.names.appSecretName,
      tenantTags({ ...run.tenant, tier }, this.deps.settings.environment),
    );
    return { kind: 'done' };
  }

  /** The tier, the instance facts (for a tenant on its own instance), the change and this step, in one transaction. */
  private async recordTier(run: ModifyRun, completion: StepCompletion): Promise<ChangeStepResult> {
    const { change, plan } = run;
    await this.changes.succeed(
      change,
      plan.target === null
        ? { tier: change.to as TierName }
        : {
            tier: change.to as TierName,
            instanceClass: plan.target.instanceClass,
            multiAz: plan.target.multiAz,
          },
      completion,
      {
        type: 'tenant.tier_changed',
        message: `tier changed ${change.from} → ${change.to}`,
        data: {
          run: change.run,
          from: change.from,
          to: change.to,
          notes: plan.notes,
          ...(plan.target === null && { host: plan.host }),
        },
      },
      run.ctx,
    );
    return { kind: 'done', recorded: true };
  }

  /**
   * A permanent failure: the alarms and tags go back to the old tier (what RDS took of the
   * instance cannot be taken back automatically; the reconciler reports it), and the change is
   * FAILED with the reason. The tenant's tier and status are untouched.
   */
  private async fail(run: ModifyRun, step: ModifyStep, error: ProvisioningError): Promise<SagaOutcome> {
    const { tenant, change, ctx } = run;
    const journal = this.journal(run);
    const records: Map<string, StepRecord> = await this.deps.store.getSteps(tenant.id, SAGA);
    const undo: Array<[ModifyStep, () => Promise<ChangeStepResult>]> =
      run.plan.target === null
        ? [['update-tags', () => this.putSharedTags(run, tenant.tier)]]
        : [
            ['update-tags', () => this.putTags(run, tenant.tier)],
            [
              'update-alarms',
              async () => this.putAlarms(run, tenant.tier, (await this.instance(run)).allocatedGiB),
            ],
          ];
    for (const [undone, put] of undo) {
      if (!records.get(undone)?.attempts) continue;
      try {
        await put();
        await journal.compensated(undone, modifySteps(run.plan).indexOf(undone));
      } catch (undoError) {
        if (!(undoError instanceof ProvisioningError)) throw undoError;
        // Left for the reconciler, which repairs alarms and tags against the recorded tier.
        this.log.warn(
          { tenantId: tenant.id, step: undone, err: undoError.message },
          'could not undo; the reconciler will',
        );
      }
    }
    const modified = records.get('modify-instance')?.status === 'done';
    await this.changes.fail(
      change,
      { code: error.code, message: error.message, step },
      {
        type: 'tenant.change_failed',
        message:
          `tier change ${change.from} → ${change.to} failed at ${step}: ${error.message}` +
          (modified
            ? '; RDS had accepted the modification, the reconciler reports where the instance differs'
            : ''),
        data: { run: change.run, step, code: error.code },
      },
      ctx,
    );
    return { kind: 'finished', status: tenant.status };
  }

  private async instance(run: ModifyRun): Promise<InstanceView> {
    const view = await this.deps.rds.describe(run.names.instanceIdentifier);
    if (!view) {
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `RDS instance ${run.names.instanceIdentifier} is gone`,
      );
    }
    if (TERMINAL_INSTANCE_STATES.has(view.status)) {
      throw new ProvisioningError(
        ProvisioningErrorCode.INSTANCE_TERMINAL_STATE,
        `RDS instance ${view.identifier} is ${view.status}`,
      );
    }
    return view;
  }

  private journal(run: ModifyRun): StepJournal {
    return new StepJournal(this.deps.store, run.tenant.id, SAGA, run.ctx, this.now);
  }
}

/** The instance as it is now, pending values not applied. */
function applied(view: InstanceView): InstanceShape {
  return shapeOf({ ...view, pending: {} });
}

function describeDifference(current: InstanceShape, target: InstanceShape): string {
  const m = modificationOf(current, target);
  return Object.entries(m)
    .filter(([key]) => key !== 'performanceInsights' || current.performanceInsights !== null)
    .map(([key, value]) => `${key} should be ${JSON.stringify(value)}`)
    .join(', ');
}
