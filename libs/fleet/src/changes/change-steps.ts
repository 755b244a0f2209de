import { OPEN_CHANGE_STATUSES, type ChangeKind, type TenantChangeEntity } from '@silo/control-plane-db';
import { failpoint, ProvisioningError, ProvisioningErrorCode, type TenantStatus } from '@silo/core';
import { backoffDelay } from '../saga/backoff';
import type { SagaOutcome } from '../saga/provisioning-saga';
import type { StepDeps } from '../saga/provisioning-steps';
import { StepJournal } from '../saga/step-journal';
import type { SagaContext, SagaLog, TenantRecord } from '../store/provisioning-store';
import type { ChangeStore } from './change-store';

/**
 * `wait`: come back later (after `delayMs`, or the wait backoff); `parked`: end the job, something
 * else brings it back (the reconciler); `recorded`: the step marked itself done with its own write;
 * `data`: what the step did, in its step.completed event (never a secret).
 */
export type ChangeStepResult =
  | { kind: 'done'; recorded?: true; data?: Record<string, unknown> }
  | { kind: 'wait'; reason: string; delayMs?: number }
  | { kind: 'parked'; reason: string };

/** Why a change is failing, kept on its plan while its compensation runs (a pass after a crash carries it on). */
export interface ChangeFailure {
  code: string;
  message: string;
  step: string;
}

/** The failure a change's compensation is under way for, if any. */
export function failingOf(change: TenantChangeEntity): ChangeFailure | undefined {
  return (change.plan as { failing?: ChangeFailure } | null)?.failing;
}

export interface ChangeStepsRun<S extends string> {
  deps: Pick<StepDeps, 'store' | 'settings'>;
  saga: 'modify' | 'rotate' | 'move' | 'restore' | 'undelete';
  tenantId: string;
  /** The tenant's status: what the job reports when it ends. */
  status: TenantStatus;
  ctx: SagaContext;
  log: SagaLog;
  now: () => Date;
  steps: readonly S[];
  step: (name: S, position: number, journal: StepJournal, attempts: number) => Promise<ChangeStepResult>;
  /** A permanent failure (or retries used up) at `step`: undo what is needed, record it, end. */
  fail: (step: S, position: number, error: ProvisioningError) => Promise<SagaOutcome>;
}

/**
 * The step loop of a change saga: each step not done yet, in order, recorded in the step journal;
 * waits delay the job (never sleeping in a worker), classified retryable failures are retried
 * with backoff up to STEP_MAX_ATTEMPTS, anything else classified fails the change. Unclassified
 * errors (the control-plane database, a bug) fail this pass for BullMQ to retry.
 */
export async function runChangeSteps<S extends string>(run: ChangeStepsRun<S>): Promise<SagaOutcome> {
  const { store, settings } = run.deps;
  const records = await store.getSteps(run.tenantId, run.saga);
  const journal = new StepJournal(store, run.tenantId, run.saga, run.ctx, run.now);
  for (const [position, step] of run.steps.entries()) {
    const record = records.get(step);
    if (record?.status === 'done') continue;
    const attempts = await journal.started(step, position, record);
    try {
      const result = await run.step(step, position, journal, attempts);
      if (result.kind === 'parked') {
        await journal.waiting(step, position, record, result.reason);
        return { kind: 'finished', status: run.status };
      }
      if (result.kind === 'wait') {
        const delayMs =
          result.delayMs ?? backoffDelay(attempts, settings.wait.initialDelayMs, settings.wait.maxDelayMs);
        await journal.waiting(step, position, record, result.reason);
        return { kind: 'delay', delayMs, reason: `${step}: ${result.reason}` };
      }
      // After the step's work, before it is recorded: the worst moment for a crash.
      failpoint(`${run.saga}:${step}`);
      if (!result.recorded) await journal.completed(step, position, attempts, result.data);
    } catch (error) {
      if (!(error instanceof ProvisioningError)) throw error;
      const failures = (record?.failures ?? 0) + 1;
      if (error.retryable && failures < settings.stepMaxAttempts) {
        const delayMs = backoffDelay(failures, settings.retry.baseDelayMs, settings.retry.maxDelayMs);
        await journal.retrying(step, position, failures, error, delayMs);
        run.log.warn(
          { tenantId: run.tenantId, step, failures, code: error.code, delayMs, err: error.message },
          `${run.saga} step failed; will retry`,
        );
        return { kind: 'delay', delayMs, reason: `${step} retry` };
      }
      const final = error.retryable
        ? new ProvisioningError(
            ProvisioningErrorCode.RETRIES_EXHAUSTED,
            `${step} still failing after ${failures} attempts: ${error.message}`,
          )
        : error;
      run.log.error(
        { tenantId: run.tenantId, step, code: final.code, err: final.message },
        `${run.saga} failed`,
      );
      await journal.failed(step, position, final);
      return run.fail(step, position, final);
    }
  }
  return { kind: 'finished', status: run.status };
}

/**
 * The tenant and its open change of `kind` that a change saga's pass works on, or the outcome
 * that ends the job: no tenant, no such change open (it ended, or another kind is current), or a
 * tenant no longer ACTIVE or SUSPENDED, whose change is then abandoned (FAILED) at `firstStep`.
 */
export async function openChangeFor(
  deps: Pick<StepDeps, 'store'>,
  changes: ChangeStore,
  tenantId: string,
  expected: { kind: ChangeKind; what: string; firstStep: string },
  ctx: SagaContext,
): Promise<{ tenant: TenantRecord; change: TenantChangeEntity } | { outcome: SagaOutcome }> {
  const tenant = await deps.store.getTenant(tenantId);
  const change = tenant ? await changes.current(tenantId) : null;
  if (!tenant || !change || change.kind !== expected.kind || !OPEN_CHANGE_STATUSES.includes(change.status)) {
    return { outcome: { kind: 'finished', status: tenant?.status ?? 'MISSING' } };
  }
  if (tenant.status !== 'ACTIVE' && tenant.status !== 'SUSPENDED') {
    await changes.abandon(change, tenant.status, expected.what, expected.firstStep, ctx);
    return { outcome: { kind: 'finished', status: tenant.status } };
  }
  return { tenant, change };
}
