import { createHash } from 'node:crypto';
import type { SecretJson } from '@silo/aws';
import type { TenantChangeEntity } from '@silo/control-plane-db';
import {
  ProvisioningError,
  APP_SCHEMA,
  ProvisioningErrorCode,
  tenantResourceNames,
  type TenantResourceNames,
} from '@silo/core';
import { nextAppLogin } from '@silo/tenant-schema';
import type { TenantDatabaseEndpoint } from '../backends/tenant-database-host';
import type { SagaOutcome } from '../saga/provisioning-saga';
import type { StepDeps } from '../saga/provisioning-steps';
import { generatePassword } from '../saga/passwords';
import { StepJournal } from '../saga/step-journal';
import { passUnderTenantLock } from '../saga/tenant-pass';
import type { SagaContext, SagaLog, StepCompletion, TenantRecord } from '../store/provisioning-store';
import type { ChangeStore } from './change-store';
import { openChangeFor, runChangeSteps, type ChangeStepResult } from './change-steps';

export const ROTATION_TARGETS = ['app', 'master', 'both'] as const;
export type RotationTarget = (typeof ROTATION_TARGETS)[number];
type SecretKind = 'app' | 'master';

const APP_STEPS = ['app:create-secret', 'app:set-secret', 'app:test-secret', 'app:finish-secret'] as const;
const MASTER_STEPS = [
  'master:create-secret',
  'master:set-secret',
  'master:test-secret',
  'master:finish-secret',
] as const;
const MASTER_END_STEPS = ['master:terminate-sessions'] as const;
const APP_END_STEPS = ['app:retire-previous', 'app:terminate-sessions'] as const;
export type RotationStep =
  | (typeof APP_STEPS)[number]
  | (typeof MASTER_STEPS)[number]
  | (typeof MASTER_END_STEPS)[number]
  | (typeof APP_END_STEPS)[number]
  | 'finish';

/**
 * The steps of a rotation of `which`, in order: the app secret, then the master and the end of
 * the master's older sessions, then (after the drain) the previous app login retired and its
 * sessions ended.
 */
export function rotationSteps(which: RotationTarget): RotationStep[] {
  return [
    ...(which === 'master' ? [] : APP_STEPS),
    ...(which === 'app' ? [] : [...MASTER_STEPS, ...MASTER_END_STEPS]),
    ...(which === 'master' ? [] : APP_END_STEPS),
    'finish',
  ];
}

const SAGA = 'rotate' as const;

/** What a rotation records of each secret in the change's plan: never a password. */
interface SecretPlan {
  /** The version created for this rotation (AWSPENDING until finished). */
  versionId: string;
  /** App: the login the data plane used before and the one it moves to. */
  from?: string;
  to?: string;
}

interface RotationRun {
  tenant: TenantRecord;
  change: TenantChangeEntity;
  names: TenantResourceNames;
  ctx: SagaContext;
  /** Secret values read in this pass (never persisted). */
  values: Map<string, SecretJson>;
}

/**
 * Credential rotation by Secrets Manager's own protocol, run by the worker instead of a Lambda,
 * for the app secret, the master secret or both (app first):
 *
 * - **create-secret**: a new version labelled AWSPENDING (app: the other login of the
 *   alternating pair, `…_app_a`/`…_app_b`, with a new password, or `…_app_a` for a tenant
 *   provisioned before the pair, whose app role logged in itself; master: a new password). A
 *   version already AWSPENDING is adopted instead, so a re-run or a rotation after a failed one
 *   continues it and never makes a third.
 * - **set-secret**: the password set in the database (app: ALTER/CREATE ROLE of the login, a
 *   member of the app role holding the grants, with a SCRAM verifier, and every other membership
 *   of the app roles revoked; master: ModifyDBInstance `MasterUserPassword` on RDS, ALTER ROLE on
 *   the local backend).
 * - **test-secret**: a login with the pending credentials (app: holding the app role's rights).
 * - **finish-secret**: AWSCURRENT moves to the new version; AWSPREVIOUS marks the old one.
 * - **terminate-sessions** (master): the master user's other sessions begun before the new
 *   password was tested end, so a leaked password keeps no session open.
 * - **retire-previous** (app): once `rotationDrainMs` has passed, so that every data-plane
 *   process has refreshed its secret (its TTL), the previous login is made NOLOGIN without a
 *   password: only the new credentials log in.
 * - **terminate-sessions** (app): the sessions the previous login still has open end.
 *
 * Passwords live in Secrets Manager only: never in the job, the change, events or logs.
 */
export class RotationSaga {
  constructor(
    private readonly deps: StepDeps,
    private readonly changes: ChangeStore,
    private readonly log: SagaLog,
    private readonly now: () => Date = () => new Date(),
  ) {}

  run(tenantId: string, ctx: SagaContext): Promise<SagaOutcome> {
    return passUnderTenantLock(this.deps, tenantId, () => this.pass(tenantId, ctx));
  }

  private async pass(tenantId: string, ctx: SagaContext): Promise<SagaOutcome> {
    const found = await openChangeFor(
      this.deps,
      this.changes,
      tenantId,
      { kind: 'rotation', what: 'credential rotation', firstStep: 'app:create-secret' },
      ctx,
    );
    if ('outcome' in found) return found.outcome;
    const { tenant, change } = found;
    const run: RotationRun = {
      tenant,
      change,
      names: tenantResourceNames(this.deps.settings.prefix, tenant.slug),
      ctx,
      values: new Map(),
    };
    return runChangeSteps({
      deps: this.deps,
      saga: SAGA,
      tenantId,
      status: tenant.status,
      ctx,
      log: this.log,
      now: this.now,
      steps: rotationSteps(change.to as RotationTarget),
      step: (step, position, journal, attempts) => this.step(step, run, journal, position, attempts),
      fail: (step, _position, error) => this.fail(run, step, error),
    });
  }

  private async step(
    step: RotationStep,
    run: RotationRun,
    journal: StepJournal,
    position: number,
    attempts: number,
  ): Promise<ChangeStepResult> {
    if (step === 'finish') return this.finish(run, journal.completion(step, position, attempts));
    const [kind, action] = step.split(':') as [SecretKind, string];
    switch (action) {
      case 'create-secret':
        return this.createSecret(run, kind);
      case 'set-secret':
        return this.setSecret(run, kind);
      case 'test-secret':
        return this.testSecret(run, kind);
      case 'finish-secret':
        return this.finishSecret(run, kind);
      case 'terminate-sessions':
        return this.terminateSessions(run, kind);
      default:
        return this.retirePrevious(run);
    }
  }

  private async createSecret(run: RotationRun, kind: SecretKind): Promise<ChangeStepResult> {
    const { secrets } = this.deps;
    const name = this.secretName(run, kind);
    const stages = await secrets.versionStages(name);
    const planned = this.planOf(run, kind);
    if (planned && stages[planned.versionId]) return { kind: 'done' };
    const current = await this.read(run, name, {});
    const pendingId = Object.keys(stages).find((v) => stages[v].includes('AWSPENDING'));
    let versionId: string;
    if (pendingId) {
      // Left by a run that did not finish (this one before a crash, or an earlier failed one):
      // continue with it rather than make another.
      versionId = pendingId;
    } else {
      versionId = versionIdFor(run.change, kind);
      const value =
        kind === 'app'
          ? {
              ...current,
              username: nextAppLogin(run.names.appRole, String(current.username)),
              password: generatePassword(),
            }
          : { ...current, password: generatePassword() };
      await secrets.putPending(name, value, versionId);
    }
    const pending = await this.read(run, name, { versionId });
    await this.changes.mergePlan(run.change, {
      [kind]: {
        versionId,
        ...(kind === 'app' ? { from: String(current.username), to: String(pending.username) } : {}),
      } satisfies SecretPlan,
    });
    return { kind: 'done' };
  }

  private async setSecret(run: RotationRun, kind: SecretKind): Promise<ChangeStepResult> {
    const { admin, host } = this.deps;
    const pending = await this.pending(run, kind);
    if (kind === 'app') {
      const { revokedMemberships } = await admin.setAppLogin(this.endpoint(run), await this.owner(run), {
        group: run.names.appRole,
        login: String(pending.username),
        password: String(pending.password),
        // Rotations run for instance tenants: their tables in app, their rows their own.
        defaults: { schema: APP_SCHEMA, tenantId: run.tenant.id },
      });
      if (revokedMemberships.length > 0) {
        this.log.warn(
          { tenantId: run.tenant.id, revokedMemberships },
          'revoked role memberships granted to the app roles by hand',
        );
      }
    } else {
      await host.setMasterPassword({
        identifier: run.names.instanceIdentifier,
        masterUsername: String(pending.username),
        password: String(pending.password),
      });
    }
    return { kind: 'done' };
  }

  private async testSecret(run: RotationRun, kind: SecretKind): Promise<ChangeStepResult> {
    const { admin, host, rds } = this.deps;
    if (kind === 'master' && host.kind === 'rds') {
      const view = await rds.describe(run.names.instanceIdentifier);
      if (view && view.status !== 'available') return { kind: 'wait', reason: `instance is ${view.status}` };
    }
    const pending = await this.pending(run, kind);
    try {
      await admin.checkLogin(
        this.endpoint(run),
        { username: String(pending.username), password: String(pending.password) },
        kind === 'app' ? run.names.appRole : undefined,
      );
    } catch (error) {
      if (!(error instanceof ProvisioningError)) throw error;
      // A new password can take a moment to apply (RDS); a refusal is retried, not final at once.
      throw new ProvisioningError(ProvisioningErrorCode.DATABASE_UNAVAILABLE, error.message, {
        cause: error,
      });
    }
    return { kind: 'done' };
  }

  private async finishSecret(run: RotationRun, kind: SecretKind): Promise<ChangeStepResult> {
    const plan = this.requirePlan(run, kind);
    const name = this.secretName(run, kind);
    await this.deps.secrets.promote(name, plan.versionId);
    run.values.delete(`${name}@AWSCURRENT`);
    return { kind: 'done' };
  }

  /** Waits out the drain without blocking, then retires the login the data plane used before. */
  private async retirePrevious(run: RotationRun): Promise<ChangeStepResult> {
    const plan = this.requirePlan(run, 'app');
    const steps = await this.deps.store.getSteps(run.tenant.id, SAGA);
    const finishedAt = steps.get('app:finish-secret')?.finishedAt ?? this.now();
    const remaining = finishedAt.getTime() + this.deps.settings.rotationDrainMs - this.now().getTime();
    if (remaining > 0) {
      return { kind: 'wait', reason: 'the data plane picks up the new secret', delayMs: remaining };
    }
    if (plan.from && plan.from !== plan.to) {
      await this.deps.admin.retireAppLogin(this.endpoint(run), await this.owner(run), {
        group: run.names.appRole,
        login: plan.from,
      });
    }
    return { kind: 'done' };
  }

  /**
   * App: every session of the retired login (it can log in no more, so each is an old one).
   * Master: the master user's sessions other than this one begun before its new password was
   * tested, by which time the old one no longer logged in. Idempotent: a re-run ends what is left.
   */
  private async terminateSessions(run: RotationRun, kind: SecretKind): Promise<ChangeStepResult> {
    let user: string;
    let startedBefore: Date | undefined;
    if (kind === 'app') {
      const plan = this.requirePlan(run, 'app');
      if (!plan.from || plan.from === plan.to) return { kind: 'done', data: { terminated: 0 } };
      user = plan.from;
    } else {
      user = (await this.owner(run)).username;
      const steps = await this.deps.store.getSteps(run.tenant.id, SAGA);
      startedBefore = steps.get('master:test-secret')?.finishedAt ?? this.now();
    }
    const { terminated, remaining } = await this.deps.admin.terminateSessions(
      this.endpoint(run),
      await this.owner(run),
      { user, ...(startedBefore && { startedBefore }) },
    );
    if (terminated > 0) {
      this.log.warn(
        { tenantId: run.tenant.id, user, terminated, remaining },
        `terminated sessions of the ${kind === 'app' ? 'retired app login' : 'master user'}`,
      );
    }
    if (remaining > 0) return { kind: 'wait', reason: `${remaining} sessions of ${user} still ending` };
    return { kind: 'done', data: { user, terminated } };
  }

  private async finish(run: RotationRun, completion: StepCompletion): Promise<ChangeStepResult> {
    const plan = run.change.plan as { app?: SecretPlan; master?: SecretPlan };
    await this.changes.succeed(
      run.change,
      null,
      completion,
      {
        type: 'tenant.credentials_rotated',
        message: `credentials rotated (${run.change.to})`,
        data: {
          run: run.change.run,
          which: run.change.to,
          ...(plan.app && { app: { versionId: plan.app.versionId, login: plan.app.to } }),
          ...(plan.master && { master: { versionId: plan.master.versionId } }),
        },
      },
      run.ctx,
    );
    return { kind: 'done', recorded: true };
  }

  /**
   * A permanent failure: AWSCURRENT was never moved for the secret in hand, so what the data
   * plane and the worker use still works. An app login set up for the pending version is retired
   * again and its AWSPENDING label removed. A master password the database may already have is
   * left AWSPENDING: the next rotation adopts that version and finishes it.
   */
  private async fail(run: RotationRun, step: RotationStep, error: ProvisioningError): Promise<SagaOutcome> {
    const { change, ctx, tenant } = run;
    const steps = await this.deps.store.getSteps(tenant.id, SAGA);
    const journal = new StepJournal(this.deps.store, tenant.id, SAGA, ctx, this.now);
    const app = this.planOf(run, 'app');
    if (app && steps.get('app:finish-secret')?.status !== 'done') {
      try {
        if (steps.get('app:set-secret')?.attempts && app.to) {
          await this.deps.admin.retireAppLogin(this.endpoint(run), await this.owner(run), {
            group: run.names.appRole,
            login: app.to,
          });
        }
        await this.deps.secrets.unstage(run.names.appSecretName, 'AWSPENDING', app.versionId);
        await journal.compensated(
          'app:create-secret',
          rotationSteps(change.to as RotationTarget).indexOf('app:create-secret'),
        );
      } catch (undoError) {
        if (!(undoError instanceof ProvisioningError)) throw undoError;
        this.log.warn(
          { tenantId: tenant.id, err: undoError.message },
          'could not undo the pending app version',
        );
      }
    }
    const master = this.planOf(run, 'master');
    if (master && !steps.get('master:set-secret')?.attempts) {
      await this.deps.secrets
        .unstage(run.names.masterSecretName, 'AWSPENDING', master.versionId)
        .catch(() => undefined);
    }
    await this.changes.fail(
      change,
      { code: error.code, message: error.message, step },
      {
        type: 'tenant.change_failed',
        message: `credential rotation (${change.to}) failed at ${step}: ${error.message}`,
        data: { run: change.run, step, code: error.code },
      },
      ctx,
    );
    return { kind: 'finished', status: tenant.status };
  }

  private secretName(run: RotationRun, kind: SecretKind): string {
    return kind === 'app' ? run.names.appSecretName : run.names.masterSecretName;
  }

  private planOf(run: RotationRun, kind: SecretKind): SecretPlan | undefined {
    return (run.change.plan as Partial<Record<SecretKind, SecretPlan>>)[kind];
  }

  private requirePlan(run: RotationRun, kind: SecretKind): SecretPlan {
    const plan = this.planOf(run, kind);
    if (!plan) {
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `the rotation has no pending ${kind} version recorded`,
      );
    }
    return plan;
  }

  private async pending(run: RotationRun, kind: SecretKind): Promise<SecretJson> {
    return this.read(run, this.secretName(run, kind), { versionId: this.requirePlan(run, kind).versionId });
  }

  /** A version of a secret, read at most once per pass; username and password must be there. */
  private async read(run: RotationRun, name: string, which: { versionId?: string }): Promise<SecretJson> {
    const key = `${name}@${which.versionId ?? 'AWSCURRENT'}`;
    let value = run.values.get(key) ?? null;
    if (!value) {
      value = await this.deps.secrets.read(name, which);
      if (value) run.values.set(key, value);
    }
    if (!value || typeof value.username !== 'string' || typeof value.password !== 'string') {
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `secret ${name} (${which.versionId ?? 'AWSCURRENT'}) is missing or has no username and password`,
      );
    }
    return value;
  }

  /** The master credentials now current (the app rotation runs before the master one). */
  private async owner(run: RotationRun): Promise<{ username: string; password: string }> {
    const master = await this.read(run, run.names.masterSecretName, {});
    return { username: String(master.username), password: String(master.password) };
  }

  private endpoint(run: RotationRun): TenantDatabaseEndpoint {
    const { endpointHost, endpointPort } = run.tenant.database;
    return this.deps.host.endpointOf({
      identifier: run.names.instanceIdentifier,
      rdsEndpoint: endpointHost && endpointPort ? { host: endpointHost, port: endpointPort } : null,
    });
  }
}

/** The version id (ClientRequestToken) of a rotation's new version: derived, so a re-run asks for the same. */
function versionIdFor(change: TenantChangeEntity, kind: SecretKind): string {
  const hex = createHash('sha256').update(`${change.tenantId}:${change.run}:${kind}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
