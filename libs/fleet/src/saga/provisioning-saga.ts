import {
  ProvisioningError,
  ProvisioningErrorCode,
  tenantResourceNames,
  tenantTags,
  type TenantStatus,
} from '@silo/core';
import type { SagaContext, SagaLog, StepRecord, TenantRecord } from '../store/provisioning-store';
import { backoffDelay } from './backoff';
import { StepJournal } from './step-journal';
import { passUnderTenantLock } from './tenant-pass';
import type { PlacementLifecycle, PlacementLifecycles } from '../placements/placement-lifecycle';
import { placementLifecycles } from '../placements/placement-lifecycles';
import type { StepDeps, StepRun } from './provisioning-steps';
import { stepDepsInRegion, tenantRegion } from './regional-deps';

/** What the job should do after one pass of a saga. */
export type SagaOutcome =
  { kind: 'finished'; status: TenantStatus | 'MISSING' } | { kind: 'delay'; delayMs: number; reason: string };

const SAGA = 'provision' as const;

/**
 * Drives a tenant from PENDING to ACTIVE, one recorded step at a time, or, when a step fails
 * for good, undoes what this tenant's run created (in reverse) and leaves it FAILED with the
 * reason. One call is one pass: it returns when the tenant is settled or when the job must come
 * back later (an instance or a host still creating, a retryable failure), never sleeping in
 * between. Which steps there are is the tenant's placement's ({@link PlacementLifecycle}).
 */
export class ProvisioningSaga {
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
        : new ProvisioningSaga(stepDepsInRegion(this.deps, region), this.log, this.now);
    return passUnderTenantLock(saga.deps, tenantId, () => saga.pass(tenantId, ctx));
  }

  private async pass(tenantId: string, ctx: SagaContext): Promise<SagaOutcome> {
    const { store, settings } = this.deps;
    let tenant = await store.getTenant(tenantId);
    if (!tenant) {
      this.log.warn({ tenantId }, 'provisioning job for a tenant that does not exist; nothing to do');
      return { kind: 'finished', status: 'MISSING' };
    }
    if (tenant.status === 'PENDING') {
      await store.transition(
        tenant.id,
        'PENDING',
        'PROVISIONING',
        { sagaStartedAt: this.now() },
        {
          type: 'tenant.provisioning_started',
          message: 'provisioning started',
          data: { tier: tenant.tier, run: tenant.provisioningRun },
        },
        ctx,
      );
      tenant = (await store.getTenant(tenantId))!;
    }
    if (tenant.status !== 'PROVISIONING') {
      // ACTIVE, FAILED, SUSPENDED, DEPROVISIONING, DELETED: this job has nothing left to do.
      return { kind: 'finished', status: tenant.status };
    }

    const run = this.stepRun(tenant, ctx);
    const placement = this.placements[tenant.placement];
    const records = await store.getSteps(tenant.id, SAGA);
    if (tenant.failure) return this.compensate(placement, run, records);

    const startedAt = tenant.sagaStartedAt ?? this.now();
    const journal = this.journal(run);
    for (const [position, step] of placement.provisionSteps.entries()) {
      const record = records.get(step);
      if (record?.status === 'done') continue;

      if (this.now().getTime() - startedAt.getTime() > settings.deadlineMs) {
        return this.fail(
          placement,
          run,
          step,
          position,
          new ProvisioningError(
            ProvisioningErrorCode.DEADLINE_EXCEEDED,
            `provisioning did not finish within ${Math.round(settings.deadlineMs / 60_000)} minutes`,
          ),
          records,
        );
      }

      const attempts = await journal.started(step, position, record);
      try {
        const result = await placement.provision(step, run, journal.completion(step, position, attempts));
        if (result.kind === 'wait') {
          const delayMs = backoffDelay(attempts, settings.wait.initialDelayMs, settings.wait.maxDelayMs);
          await journal.waiting(step, position, record, result.reason);
          return { kind: 'delay', delayMs, reason: `${step}: ${result.reason}` };
        }
        if (!result.recorded) await journal.completed(step, position, attempts, result.data);
        if (step === 'activate') return { kind: 'finished', status: 'ACTIVE' };
        run.tenant = (await store.getTenant(tenant.id))!;
      } catch (error) {
        // Anything unclassified (the control-plane database, a bug) fails this pass of the job
        // and BullMQ retries it; only classified failures decide the tenant's fate.
        if (!(error instanceof ProvisioningError)) throw error;
        const failure = error;
        const failures = (record?.failures ?? 0) + 1;
        if (failure.retryable && failures < settings.stepMaxAttempts) {
          const delayMs = backoffDelay(failures, settings.retry.baseDelayMs, settings.retry.maxDelayMs);
          await journal.retrying(step, position, failures, failure, delayMs);
          this.log.warn(
            { tenantId, step, failures, code: failure.code, delayMs, err: failure.message },
            'step failed; will retry',
          );
          return { kind: 'delay', delayMs, reason: `${step} retry` };
        }
        const final = failure.retryable
          ? new ProvisioningError(
              ProvisioningErrorCode.RETRIES_EXHAUSTED,
              `${step} still failing after ${failures} attempts: ${failure.message}`,
            )
          : failure;
        return this.fail(placement, run, step, position, final, records);
      }
    }
    return { kind: 'finished', status: 'ACTIVE' };
  }

  private async fail(
    placement: PlacementLifecycle,
    run: StepRun,
    step: string,
    position: number,
    error: ProvisioningError,
    records: Map<string, StepRecord>,
  ): Promise<SagaOutcome> {
    const { store } = this.deps;
    this.log.error(
      { tenantId: run.tenant.id, step, code: error.code, err: error.message },
      'provisioning failed; compensating',
    );
    await this.journal(run).failed(step, position, error);
    const failure = { code: error.code, message: error.message, step };
    await store.recordFailure(
      run.tenant.id,
      failure,
      { type: 'tenant.compensation_started', message: 'undoing what this run created', data: { ...failure } },
      run.ctx,
    );
    run.tenant = { ...run.tenant, failure };
    return this.compensate(placement, run, await store.getSteps(run.tenant.id, SAGA).catch(() => records));
  }

  /**
   * Undoes, newest first, every step this run started. Each undo is idempotent, touches only
   * resources tagged for this tenant, and is retried (with backoff, without limit) until done.
   */
  private async compensate(
    placement: PlacementLifecycle,
    run: StepRun,
    records: Map<string, StepRecord>,
  ): Promise<SagaOutcome> {
    const { store, settings } = this.deps;
    const journal = this.journal(run);
    for (const [position, step] of [...placement.provisionSteps.entries()].reverse()) {
      const record = records.get(step);
      if (!record || record.attempts === 0 || record.status === 'compensated') continue;
      let result;
      try {
        result = await placement.undo(step, run);
      } catch (error) {
        if (!(error instanceof ProvisioningError)) throw error;
        const failure = error;
        const failures = record.failures + 1;
        const delayMs = backoffDelay(failures, settings.retry.baseDelayMs, settings.retry.maxDelayMs);
        this.log.warn(
          { tenantId: run.tenant.id, step, code: failure.code, err: failure.message, delayMs },
          'undo failed; will retry',
        );
        await journal.undoFailed(step, position, failures, failure);
        return { kind: 'delay', delayMs, reason: `undo ${step}` };
      }
      if (result.kind === 'wait') {
        const delayMs = backoffDelay(1, settings.wait.initialDelayMs, settings.wait.maxDelayMs);
        return { kind: 'delay', delayMs, reason: `undo ${step}: ${result.reason}` };
      }
      await journal.compensated(step, position);
    }
    const failure = run.tenant.failure!;
    await store.transition(
      run.tenant.id,
      'PROVISIONING',
      'FAILED',
      { sagaStartedAt: null },
      {
        type: 'tenant.failed',
        message: `provisioning failed at ${failure.step}: ${failure.message}`,
        data: { ...failure },
      },
      run.ctx,
    );
    return { kind: 'finished', status: 'FAILED' };
  }

  private journal(run: StepRun): StepJournal {
    return new StepJournal(this.deps.store, run.tenant.id, SAGA, run.ctx, this.now);
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
