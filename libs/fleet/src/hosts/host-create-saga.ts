import type { HostEntity, HostStatus } from '@silo/control-plane-db';
import { hostResourceNames, hostTags, ProvisioningError, ProvisioningErrorCode } from '@silo/core';
import { appLoginRoles } from '@silo/tenant-schema';
import { backoffDelay } from '../saga/backoff';
import type { SagaContext, StepRecord } from '../store/provisioning-store';
import { hostAlarmNames } from './host-alarm-specs';
import {
  HostCreateSteps,
  hostCreateSteps,
  type HostCreateStep,
  type HostRun,
  type HostSagaDeps,
} from './host-create-steps';
import { HostJournal, type HostSagaLog } from './host-journal';

/** What the job should do after one pass of a host saga. */
export type HostSagaOutcome =
  { kind: 'finished'; status: HostStatus | 'missing' } | { kind: 'delay'; delayMs: number; reason: string };

type UndoResult = { kind: 'done' } | { kind: 'wait'; reason: string };

const SAGA = 'create' as const;

/**
 * Drives a host from `creating` to `available`, one recorded step at a time, or, when a step
 * fails for good, marks it `failed` with the reason (no tenant is placed on it from then on, and
 * tenants waiting for it see that it failed) and undoes, newest first, what its run created. One
 * call is one pass under the host's lock; it returns when the host is settled or when the job
 * must come back later, never sleeping in between.
 */
export class HostCreateSaga {
  private readonly steps: HostCreateSteps;

  constructor(
    private readonly deps: HostSagaDeps,
    private readonly log: HostSagaLog,
    private readonly ctx: SagaContext,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.steps = new HostCreateSteps(deps, log);
  }

  async pass(hostId: string): Promise<HostSagaOutcome> {
    const { store, settings } = this.deps;
    const host = await store.getHost(hostId);
    if (!host) {
      this.log.warn({ hostId }, 'create job for a host that does not exist; nothing to do');
      return { kind: 'finished', status: 'missing' };
    }
    const run = hostRun(host, settings);
    if (host.status === 'failed') return this.compensate(run, await store.getSteps(host.id, SAGA));
    // available: done; deleting, deleted: the delete saga has it now.
    if (host.status !== 'creating') return { kind: 'finished', status: host.status };

    const records = await store.getSteps(host.id, SAGA);
    const journal = this.journal(host.id);
    for (const [position, step] of hostCreateSteps(host.placement).entries()) {
      const record = records.get(step);
      if (record?.status === 'done') continue;

      if (this.now().getTime() - host.createdAt.getTime() > settings.deadlineMs) {
        return this.fail(
          run,
          step,
          position,
          new ProvisioningError(
            ProvisioningErrorCode.DEADLINE_EXCEEDED,
            `host creation did not finish within ${Math.round(settings.deadlineMs / 60_000)} minutes`,
          ),
        );
      }

      const attempts = await journal.started(step, position, record);
      try {
        const result = await this.steps.run(step, run, journal.completion(step, position));
        if (result.kind === 'wait') {
          const delayMs = backoffDelay(attempts, settings.wait.initialDelayMs, settings.wait.maxDelayMs);
          await journal.waiting(step, position, record, result.reason);
          return { kind: 'delay', delayMs, reason: `${step}: ${result.reason}` };
        }
        if (result.recorded) journal.logCompleted(step, attempts);
        else await journal.completed(step, position, attempts);
        if (step === 'activate') {
          this.log.info({ hostId, host: host.name }, `host ${host.name} is available`);
          return { kind: 'finished', status: 'available' };
        }
        run.host = (await store.getHost(host.id)) ?? run.host;
      } catch (error) {
        // Anything unclassified (the control-plane database, a bug) fails this pass of the job and
        // BullMQ retries it; only classified failures decide the host's fate.
        if (!(error instanceof ProvisioningError)) throw error;
        const failures = (record?.failures ?? 0) + 1;
        if (error.retryable && failures < settings.stepMaxAttempts) {
          const delayMs = backoffDelay(failures, settings.retry.baseDelayMs, settings.retry.maxDelayMs);
          await journal.retrying(step, position, failures, error, delayMs);
          return { kind: 'delay', delayMs, reason: `${step} retry` };
        }
        const final = error.retryable
          ? new ProvisioningError(
              ProvisioningErrorCode.RETRIES_EXHAUSTED,
              `${step} still failing after ${failures} attempts: ${error.message}`,
            )
          : error;
        return this.fail(run, step, position, final);
      }
    }
    return { kind: 'finished', status: 'available' };
  }

  private async fail(
    run: HostRun,
    step: HostCreateStep,
    position: number,
    error: ProvisioningError,
  ): Promise<HostSagaOutcome> {
    const { store } = this.deps;
    this.log.error(
      { hostId: run.host.id, host: run.host.name, step, code: error.code, err: error.message },
      'host creation failed; compensating',
    );
    await this.journal(run.host.id).failed(step, position, error);
    const failure = { code: error.code, message: error.message, step };
    if (!(await store.fail(run.host.id, failure))) {
      const now = await store.getHost(run.host.id);
      return { kind: 'finished', status: now?.status ?? 'missing' };
    }
    run.host = { ...run.host, status: 'failed', error: failure };
    return this.compensate(run, await store.getSteps(run.host.id, SAGA));
  }

  /**
   * Undoes, newest first, every step the run started. Each undo is idempotent, touches only
   * resources tagged for this host, and is retried (with backoff, without limit) until done.
   */
  private async compensate(run: HostRun, records: Map<string, StepRecord>): Promise<HostSagaOutcome> {
    const { settings } = this.deps;
    const journal = this.journal(run.host.id);
    const steps = [...hostCreateSteps(run.host.placement).entries()].reverse();
    let undid = false;
    for (const [position, step] of steps) {
      const record = records.get(step);
      if (!record || record.attempts === 0 || record.status === 'compensated') continue;
      let result: UndoResult;
      try {
        result = await this.undo(step, run);
      } catch (error) {
        if (!(error instanceof ProvisioningError)) throw error;
        const failures = record.failures + 1;
        await journal.undoFailed(step, position, failures, error);
        return {
          kind: 'delay',
          delayMs: backoffDelay(failures, settings.retry.baseDelayMs, settings.retry.maxDelayMs),
          reason: `undo ${step}`,
        };
      }
      if (result.kind === 'wait') {
        return {
          kind: 'delay',
          delayMs: backoffDelay(1, settings.wait.initialDelayMs, settings.wait.maxDelayMs),
          reason: `undo ${step}: ${result.reason}`,
        };
      }
      await journal.compensated(step, position);
      undid = true;
    }
    if (undid) {
      this.log.info(
        { hostId: run.host.id, host: run.host.name, error: run.host.error },
        `host ${run.host.name} failed; what its run created is undone`,
      );
    }
    return { kind: 'finished', status: 'failed' };
  }

  private async undo(step: HostCreateStep, run: HostRun): Promise<UndoResult> {
    const { resources, rds, alarms, backend } = this.deps;
    const { names, host } = run;
    switch (step) {
      case 'activate':
      case 'migrate-pool':
      case 'publish-connection':
        // Nothing of their own outside the database, which goes with the instance.
        return { kind: 'done' };
      case 'create-alarms':
        await alarms.delete(hostAlarmNames(names));
        return { kind: 'done' };
      case 'pool-role':
        await resources.deleteSecret(names.poolAppSecretName, { force: true }, host.id);
        return { kind: 'done' };
      case 'wait-available':
        await backend.remove({ identifier: names.instanceIdentifier, roles: hostRoles(run) });
        return { kind: 'done' };
      case 'create-instance': {
        const outcome = await resources.deleteInstance(names.instanceIdentifier, host.id);
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
        await resources.deleteSecret(names.masterSecretName, { force: true }, host.id);
        return { kind: 'done' };
    }
  }

  private journal(hostId: string): HostJournal {
    return new HostJournal(this.deps.store, hostId, SAGA, this.ctx, this.log, this.now);
  }
}

/** The names, tags and per-pass state of a host's run. */
export function hostRun(host: HostEntity, settings: HostSagaDeps['settings']): HostRun {
  return {
    host,
    names: hostResourceNames(settings.prefix, host.name),
    tags: hostTags(host, settings.environment),
    secretValues: new Map(),
  };
}

/** The roles of the host's own on the local backend: the pool logins and role, then the owner. */
export function hostRoles({ names }: Pick<HostRun, 'names'>): string[] {
  return [...appLoginRoles(names.poolAppRole), names.poolAppRole, names.masterUsername];
}
