import { ProvisioningError, tenantResourceNames, tenantTags } from '@silo/core';
import { INSTANCE_DEPROVISION_STEPS } from '../placements/instance-placement';
import type { PlacementLifecycles, PlacementStepResult } from '../placements/placement-lifecycle';
import { placementLifecycles } from '../placements/placement-lifecycles';
import type { SagaContext, SagaLog, TenantRecord } from '../store/provisioning-store';
import { backoffDelay } from './backoff';
import { StepJournal } from './step-journal';
import { passUnderTenantLock } from './tenant-pass';
import type { SagaOutcome } from './provisioning-saga';
import type { StepDeps, StepRun } from './provisioning-steps';
import { stepDepsInRegion, tenantRegion } from './regional-deps';

/** An instance tenant's deprovisioning steps (each placement has its own; see PlacementLifecycle). */
export const DEPROVISION_STEPS = INSTANCE_DEPROVISION_STEPS;
export type DeprovisionStep = (typeof DEPROVISION_STEPS)[number];

const SAGA = 'deprovision' as const;

/**
 * Takes a DEPROVISIONING tenant to DELETED through its placement's deprovisioning steps: an
 * instance tenant's alarms, instance (final snapshot where the tier keeps backups) and secrets;
 * a schema tenant's schema and roles on its host and its app secret; a pooled tenant's rows.
 * A shared tenant's place stops counting against its host once it is DELETED. Idempotent and
 * resumable like provisioning; every failure is retried (deletion has no way back).
 */
export class DeprovisioningSaga {
  private readonly placements: PlacementLifecycles;

  constructor(
    private readonly deps: StepDeps,
    private readonly log: SagaLog,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.placements = placementLifecycles(deps, log, now);
  }

  async run(tenantId: string, ctx: SagaContext): Promise<SagaOutcome> {
    // A pass works with the tenant's region's clients, backend, key and topic only.
    const region = await tenantRegion(this.deps, tenantId);
    const saga =
      region === this.deps.settings.region
        ? this
        : new DeprovisioningSaga(stepDepsInRegion(this.deps, region), this.log, this.now);
    return passUnderTenantLock(saga.deps, tenantId, () => saga.pass(tenantId, ctx));
  }

  private async pass(tenantId: string, ctx: SagaContext): Promise<SagaOutcome> {
    const { store, settings } = this.deps;
    const tenant = await store.getTenant(tenantId);
    if (!tenant) return { kind: 'finished', status: 'MISSING' };
    if (tenant.status !== 'DEPROVISIONING') return { kind: 'finished', status: tenant.status };

    const placement = this.placements[tenant.placement];
    const run = this.stepRun(tenant, ctx);
    const records = await store.getSteps(tenant.id, SAGA);
    const journal = new StepJournal(store, tenant.id, SAGA, ctx, this.now);
    for (const [position, step] of placement.deprovisionSteps.entries()) {
      const record = records.get(step);
      if (record?.status === 'done') continue;
      const attempts = await journal.started(step, position, record);
      let result: PlacementStepResult;
      try {
        result = await placement.deprovision(step, run, journal.completion(step, position, attempts));
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

  private stepRun(tenant: TenantRecord, ctx: SagaContext): StepRun {
    const { settings } = this.deps;
    return {
      tenant,
      names: tenantResourceNames(settings.prefix, tenant.slug),
      profile: settings.tiers[tenant.tier],
      tags: tenantTags(tenant, settings.environment),
      ctx,
      secretValues: new Map(),
    };
  }
}
