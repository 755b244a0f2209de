import type { TenantSecrets } from '@silo/aws';
import type { HostEntity, HostRotationEntity, HostRotationStatus } from '@silo/control-plane-db';
import {
  APP_SCHEMA,
  failpoint,
  hostResourceNames,
  ProvisioningError,
  ProvisioningErrorCode,
  type HostResourceNames,
} from '@silo/core';
import type { TenantDatabaseHost } from '../backends/tenant-database-host';
import type { ChangeStepResult } from '../changes/change-steps';
import {
  AppLoginRotation,
  derivedVersionId,
  PassSecrets,
  type AppLoginTarget,
  type LoginAccess,
  type LoginPlan,
} from '../changes/login-rotation';
import { backoffDelay } from '../saga/backoff';
import type { ProvisioningSettings } from '../saga/provisioning-settings';
import type { SagaContext } from '../store/provisioning-store';
import type { CredentialsAdmin } from '../tenant-database-admin';
import { HostJournal, type HostSagaLog } from './host-journal';
import type { HostRotationStore } from './host-rotation-store';
import type { HostStepStore } from './host-step-store';

/** A pool host's pool-login rotation, in order (host_steps of saga `rotate`). */
export const HOST_ROTATION_STEPS = [
  'create-secret',
  'set-secret',
  'test-secret',
  'finish-secret',
  'retire-previous',
  'terminate-sessions',
  'finish',
] as const;
export type HostRotationStep = (typeof HOST_ROTATION_STEPS)[number];

const SAGA = 'rotate' as const;

/** What the job does after one pass. */
export type HostRotationOutcome =
  | { kind: 'finished'; status: HostRotationStatus | 'none' }
  | { kind: 'delay'; delayMs: number; reason: string };

export interface HostRotationDeps {
  store: HostStepStore;
  rotations: HostRotationStore;
  secrets: Pick<TenantSecrets, 'read' | 'versionStages' | 'putPending' | 'promote' | 'unstage'>;
  admin: CredentialsAdmin;
  /** The TENANT_DATABASE_HOST backend: where the host's database answers. */
  backend: Pick<TenantDatabaseHost, 'endpointOf'>;
  settings: Pick<ProvisioningSettings, 'prefix' | 'rotationDrainMs' | 'stepMaxAttempts' | 'retry' | 'wait'>;
}

/**
 * Rotates a pool host's pool login, the one login every pooled tenant of the host is served with,
 * by the same Secrets Manager protocol and steps as a tenant's app login: a new version of the
 * host's `pool-app` secret AWSPENDING naming the other login of the pair (`…_pool_app_a`/`_b`)
 * with a new password; that login set as the host's master user (a member of the pool role, no
 * tenant of its own: the router sets the tenant per transaction); tested; AWSCURRENT moved; after
 * CREDENTIAL_ROTATION_DRAIN_SECONDS, so that every data-plane process has picked the new secret up
 * (its secret TTL, or at once on an authentication failure), the previous login made NOLOGIN
 * without a password and its remaining sessions ended. The host's master user is never changed.
 *
 * Each pass runs under the host's lock (create and delete passes of the host take it too), each
 * step is journaled in `host_steps` and idempotent, waits delay the job instead of sleeping, and
 * a permanent failure before the secret moved retires the pending login again and removes its
 * AWSPENDING label: what the data plane uses keeps working. Passwords never leave Secrets Manager.
 */
export class HostRotationSaga {
  private readonly logins: AppLoginRotation;

  constructor(
    private readonly deps: HostRotationDeps,
    private readonly log: HostSagaLog,
    private readonly ctx: SagaContext,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.logins = new AppLoginRotation(deps.secrets, deps.admin, log);
  }

  async run(hostId: string): Promise<HostRotationOutcome> {
    const outcome = await this.deps.store.withHostLock(hostId, () => this.pass(hostId));
    if (outcome !== 'locked') return outcome;
    const { retry } = this.deps.settings;
    return {
      kind: 'delay',
      delayMs: backoffDelay(1, retry.baseDelayMs, retry.maxDelayMs),
      reason: 'host busy in another worker',
    };
  }

  private async pass(hostId: string): Promise<HostRotationOutcome> {
    const { store, rotations, settings } = this.deps;
    const rotation = await rotations.latest(hostId);
    if (!rotation || rotation.status !== 'RUNNING') {
      return { kind: 'finished', status: rotation?.status ?? 'none' };
    }
    const records = await store.getSteps(hostId, SAGA);
    const host = await store.getHost(hostId);
    if (!host || host.status !== 'available' || host.placement !== 'pool') {
      const at = HOST_ROTATION_STEPS.find((s) => records.get(s)?.status !== 'done') ?? 'finish';
      await rotations.fail(rotation, {
        code: 'HOST_NOT_AVAILABLE',
        message: `the host is ${host ? `${host.status}${host.placement === 'pool' ? '' : ' and not a pool host'}` : 'gone'}`,
        step: at,
      });
      this.log.warn({ hostId, run: rotation.run, status: host?.status }, 'pool-login rotation abandoned');
      return { kind: 'finished', status: 'FAILED' };
    }
    const names = hostResourceNames(settings.prefix, host.name);
    const secrets = new PassSecrets(this.deps.secrets);
    const target = this.target(host, names, rotation, secrets);
    const journal = new HostJournal(store, hostId, SAGA, this.ctx, this.log, this.now);
    for (const [position, step] of HOST_ROTATION_STEPS.entries()) {
      const record = records.get(step);
      if (record?.status === 'done') continue;
      const attempts = await journal.started(step, position, record);
      try {
        const result = await this.step(step, position, { host, rotation, target, secrets, journal });
        if (result.kind === 'wait' || result.kind === 'parked') {
          const delayMs =
            ('delayMs' in result && result.delayMs) ||
            backoffDelay(attempts, settings.wait.initialDelayMs, settings.wait.maxDelayMs);
          await journal.waiting(step, position, record, result.reason);
          return { kind: 'delay', delayMs, reason: `${step}: ${result.reason}` };
        }
        // After the step's work, before it is recorded: the worst moment for a crash.
        failpoint(`rotate-host:${step}`);
        if (result.recorded) journal.logCompleted(step, attempts);
        else await journal.completed(step, position, attempts);
        if (step === 'finish') return { kind: 'finished', status: 'SUCCEEDED' };
      } catch (error) {
        // Unclassified (the control-plane database, a bug): this pass fails and BullMQ retries it.
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
        await journal.failed(step, position, final);
        return this.fail(rotation, target, step, final);
      }
    }
    return { kind: 'finished', status: 'SUCCEEDED' };
  }

  private async step(
    step: HostRotationStep,
    position: number,
    run: {
      host: HostEntity;
      rotation: HostRotationEntity;
      target: AppLoginTarget;
      secrets: PassSecrets;
      journal: HostJournal;
    },
  ): Promise<ChangeStepResult> {
    const { rotation, target, secrets } = run;
    switch (step) {
      case 'create-secret': {
        const plan = await this.logins.createSecret(target, planOf(rotation), secrets);
        if (plan) await this.deps.rotations.mergePlan(rotation, { poolApp: plan });
        return { kind: 'done', ...(plan && { data: { from: plan.from, to: plan.to } }) };
      }
      case 'set-secret':
        return this.logins.setSecret(target, requirePlan(rotation), secrets);
      case 'test-secret':
        return this.logins.testSecret(target, requirePlan(rotation), secrets);
      case 'finish-secret':
        return this.logins.finishSecret(target, requirePlan(rotation), secrets);
      case 'retire-previous': {
        const steps = await this.deps.store.getSteps(rotation.hostId, SAGA);
        return this.logins.retirePrevious(target, requirePlan(rotation), {
          finishedAt: steps.get('finish-secret')?.finishedAt ?? this.now(),
          drainMs: this.deps.settings.rotationDrainMs,
          now: this.now(),
        });
      }
      case 'terminate-sessions':
        return this.logins.terminateSessions(target, requirePlan(rotation));
      case 'finish': {
        const done = await this.deps.rotations.succeed(rotation, run.journal.completion(step, position));
        if (!done) {
          throw new ProvisioningError(
            ProvisioningErrorCode.INCONSISTENT_STATE,
            `rotation ${rotation.run} of host ${run.host.name} is no longer running`,
          );
        }
        const plan = requirePlan(rotation);
        this.log.info(
          {
            hostId: rotation.hostId,
            host: run.host.name,
            run: rotation.run,
            versionId: plan.versionId,
            login: plan.to,
          },
          `pool login of host ${run.host.name} rotated`,
        );
        return { kind: 'done', recorded: true };
      }
    }
  }

  /** Undoes what is needed (AWSCURRENT never moved before finish-secret), then records the failure. */
  private async fail(
    rotation: HostRotationEntity,
    target: AppLoginTarget,
    step: HostRotationStep,
    error: ProvisioningError,
  ): Promise<HostRotationOutcome> {
    const steps = await this.deps.store.getSteps(rotation.hostId, SAGA);
    const plan = planOf(rotation);
    if (plan && steps.get('finish-secret')?.status !== 'done') {
      try {
        await this.logins.undo(target, plan, !!steps.get('set-secret')?.attempts);
      } catch (undoError) {
        if (!(undoError instanceof ProvisioningError)) throw undoError;
        this.log.warn(
          { hostId: rotation.hostId, err: undoError.message },
          'could not undo the pending pool-login version',
        );
      }
    }
    await this.deps.rotations.fail(rotation, { code: error.code, message: error.message, step });
    this.log.error(
      { hostId: rotation.hostId, run: rotation.run, step, code: error.code, err: error.message },
      'pool-login rotation failed',
    );
    return { kind: 'finished', status: 'FAILED' };
  }

  private target(
    host: HostEntity,
    names: HostResourceNames,
    rotation: HostRotationEntity,
    secrets: PassSecrets,
  ): AppLoginTarget {
    let access: Promise<LoginAccess> | undefined;
    return {
      secretName: names.poolAppSecretName,
      group: names.poolAppRole,
      // The shared login carries no tenant: the router sets it per transaction.
      defaults: { schema: APP_SCHEMA },
      versionId: derivedVersionId(`host:${host.id}:${rotation.run}:pool-app`),
      access: () =>
        (access ??= (async () => ({
          endpoint: this.deps.backend.endpointOf({
            identifier: names.instanceIdentifier,
            rdsEndpoint:
              host.endpointHost && host.endpointPort
                ? { host: host.endpointHost, port: host.endpointPort }
                : null,
          }),
          owner: await secrets.credentials(names.masterSecretName),
        }))()),
      logFields: { hostId: host.id, host: host.name },
    };
  }
}

function planOf(rotation: HostRotationEntity): LoginPlan | undefined {
  return (rotation.plan as { poolApp?: LoginPlan }).poolApp;
}

function requirePlan(rotation: HostRotationEntity): LoginPlan {
  const plan = planOf(rotation);
  if (!plan) {
    throw new ProvisioningError(
      ProvisioningErrorCode.INCONSISTENT_STATE,
      `rotation ${rotation.run} of host ${rotation.hostId} has no pending version recorded`,
    );
  }
  return plan;
}
