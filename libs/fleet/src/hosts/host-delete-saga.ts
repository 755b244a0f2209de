import { isTierName, ProvisioningError } from '@silo/core';
import { backoffDelay } from '../saga/backoff';
import type { SagaContext } from '../store/provisioning-store';
import { hostAlarmNames } from './host-alarm-specs';
import { hostRoles, hostRun, type HostSagaOutcome } from './host-create-saga';
import type { HostRun, HostSagaDeps } from './host-create-steps';
import { HostJournal, type HostSagaLog } from './host-journal';
import type { HostStepCompletion } from './host-step-store';

export const HOST_DELETE_STEPS = [
  'remove-alarms',
  'delete-instance',
  'remove-local-database',
  'schedule-secret-deletion',
  'mark-deleted',
] as const;
export type HostDeleteStep = (typeof HOST_DELETE_STEPS)[number];

type DeleteStepResult = { kind: 'done'; recorded?: true } | { kind: 'wait'; reason: string };

const SAGA = 'delete' as const;

/**
 * Takes a `deleting` host (HostRetirement.beginDeletion decided it, with no tenant placed) to
 * `deleted`: alarms removed, deletion protection lifted, a final snapshot
 * `<instance>-final-<timestamp>` where the host tier keeps backups, the instance deleted (and
 * waited for), the local backend's database removed, secrets scheduled for deletion with the
 * recovery window. Idempotent and resumable; every failure is retried (deletion has no way back).
 */
export class HostDeleteSaga {
  constructor(
    private readonly deps: HostSagaDeps,
    private readonly log: HostSagaLog,
    private readonly ctx: SagaContext,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async pass(hostId: string): Promise<HostSagaOutcome> {
    const { store, settings } = this.deps;
    const host = await store.getHost(hostId);
    if (!host) return { kind: 'finished', status: 'missing' };
    if (host.status !== 'deleting') return { kind: 'finished', status: host.status };

    const run = hostRun(host, settings);
    const records = await store.getSteps(host.id, SAGA);
    const journal = new HostJournal(store, host.id, SAGA, this.ctx, this.log, this.now);
    for (const [position, step] of HOST_DELETE_STEPS.entries()) {
      const record = records.get(step);
      if (record?.status === 'done') continue;
      const attempts = await journal.started(step, position, record);
      let result: DeleteStepResult;
      try {
        result = await this.step(step, run, journal.completion(step, position));
      } catch (error) {
        if (!(error instanceof ProvisioningError)) throw error;
        const failures = (record?.failures ?? 0) + 1;
        const delayMs = backoffDelay(failures, settings.retry.baseDelayMs, settings.retry.maxDelayMs);
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
      if (result.recorded) journal.logCompleted(step, attempts);
      else await journal.completed(step, position, attempts);
    }
    this.log.info({ hostId, host: host.name }, `host ${host.name} is deleted`);
    return { kind: 'finished', status: 'deleted' };
  }

  private async step(
    step: (typeof HOST_DELETE_STEPS)[number],
    run: HostRun,
    completion: HostStepCompletion,
  ): Promise<DeleteStepResult> {
    const { resources, rds, alarms, backend, store, settings } = this.deps;
    const { host, names } = run;
    switch (step) {
      case 'remove-alarms':
        await alarms.delete(hostAlarmNames(names));
        return { kind: 'done' };
      case 'delete-instance': {
        // A tier whose profile is gone keeps a snapshot: losing data is the one thing not undone.
        const profile = isTierName(host.tier) ? settings.tiers[host.tier] : undefined;
        const keepsBackups = !profile || profile.backupRetentionDays > 0;
        const finalSnapshotIdentifier = keepsBackups ? names.finalSnapshotIdentifier(this.now()) : undefined;
        const outcome = await resources.deleteInstance(
          names.instanceIdentifier,
          host.id,
          finalSnapshotIdentifier,
        );
        if (outcome === 'busy')
          return { kind: 'wait', reason: 'instance cannot be deleted in its current state' };
        if (outcome === 'not-ours') {
          this.log.warn(
            { hostId: host.id, instance: names.instanceIdentifier },
            'instance is not tagged for this host; left untouched',
          );
          return { kind: 'done' };
        }
        if (outcome === 'deleting') {
          this.log.info(
            { hostId: host.id, finalSnapshotIdentifier: finalSnapshotIdentifier ?? null },
            'host instance deletion requested',
          );
        }
        // Deleted only once RDS no longer knows it: later passes look again.
        if (
          (outcome === 'deleting' || outcome === 'already-deleting') &&
          (await rds.describe(names.instanceIdentifier))
        )
          return { kind: 'wait', reason: 'instance is being deleted' };
        return { kind: 'done' };
      }
      case 'remove-local-database':
        await backend.remove({ identifier: names.instanceIdentifier, roles: hostRoles(run) });
        return { kind: 'done' };
      case 'schedule-secret-deletion': {
        const mode = { recoveryWindowDays: settings.secretRecoveryWindowDays };
        if (host.placement === 'pool') await resources.deleteSecret(names.poolAppSecretName, mode, host.id);
        await resources.deleteSecret(names.masterSecretName, mode, host.id);
        return { kind: 'done' };
      }
      case 'mark-deleted':
        // deleted and this step done in one transaction.
        await store.markDeleted(host.id, completion);
        return { kind: 'done', recorded: true };
    }
  }
}
