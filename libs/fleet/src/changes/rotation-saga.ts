import type { TenantChangeEntity } from '@silo/control-plane-db';
import {
  APP_SCHEMA,
  hostResourceNames,
  ProvisioningError,
  ProvisioningErrorCode,
  tenantResourceNames,
  type TenantResourceNames,
} from '@silo/core';
import type { SagaOutcome } from '../saga/provisioning-saga';
import type { StepDeps } from '../saga/provisioning-steps';
import { generatePassword } from '../saga/passwords';
import { StepJournal } from '../saga/step-journal';
import { passUnderTenantLock } from '../saga/tenant-pass';
import type { SagaContext, SagaLog, StepCompletion, TenantRecord } from '../store/provisioning-store';
import type { ChangeStore } from './change-store';
import { openChangeFor, runChangeSteps, type ChangeStepResult } from './change-steps';
import {
  AppLoginRotation,
  checkLoginRetryable,
  derivedVersionId,
  PassSecrets,
  terminateSessionsOf,
  type AppLoginTarget,
  type LoginAccess,
  type LoginPlan,
} from './login-rotation';
import { stepDepsInRegion, tenantRegion } from '../saga/regional-deps';

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
 * sessions ended. A schema tenant's rotation is `app` only: its master is its host's.
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

interface RotationRun {
  tenant: TenantRecord;
  change: TenantChangeEntity;
  names: TenantResourceNames;
  ctx: SagaContext;
  /** Secret values read in this pass (never persisted). */
  secrets: PassSecrets;
  /** The tenant's app login pair and where it lives. */
  app: AppLoginTarget;
  /** Where the logins are and as whom, resolved once per pass and again after the master changed. */
  access?: Promise<LoginAccess>;
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
 * A `schema` tenant's logins live on its shared host: the same app steps run there, as the host's
 * master user (read from the host's master secret, never changed by a tenant's rotation), with
 * the tenant's schema and id as the new login's role defaults. A `pool` tenant has no login of its
 * own (its host's pool login is rotated by the host's rotation); its rotation is refused when
 * requested, and one found here fails.
 *
 * Passwords live in Secrets Manager only: never in the job, the change, events or logs.
 */
export class RotationSaga {
  private readonly logins: AppLoginRotation;

  constructor(
    private readonly deps: StepDeps,
    private readonly changes: ChangeStore,
    private readonly log: SagaLog,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.logins = new AppLoginRotation(deps.secrets, deps.admin, log);
  }

  async run(tenantId: string, ctx: SagaContext): Promise<SagaOutcome> {
    // A pass works with the tenant's region's clients, backend, key and topic only.
    const region = await tenantRegion(this.deps, tenantId);
    const saga =
      region === this.deps.settings.region
        ? this
        : new RotationSaga(stepDepsInRegion(this.deps, region), this.changes, this.log, this.now);
    return passUnderTenantLock(saga.deps, tenantId, () => saga.pass(tenantId, ctx));
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
    const names = tenantResourceNames(this.deps.settings.prefix, tenant.slug);
    const secrets = new PassSecrets(this.deps.secrets);
    const run: RotationRun = {
      tenant,
      change,
      names,
      ctx,
      secrets,
      app: {
        secretName: names.appSecretName,
        group: names.appRole,
        // An instance tenant's tables are in app, a schema tenant's in its own schema; its rows its own.
        defaults: {
          schema: tenant.placement === 'schema' ? names.tenantSchema : APP_SCHEMA,
          tenantId: tenant.id,
        },
        versionId: versionIdFor(change, 'app'),
        access: () => (run.access ??= this.access(tenant, names, secrets)),
        logFields: { tenantId: tenant.id },
      },
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
    if (kind === 'master') return this.masterStep(run, action);
    const { app } = run;
    switch (action) {
      case 'create-secret': {
        const plan = await this.logins.createSecret(app, this.planOf(run, 'app'), run.secrets);
        if (plan) await this.changes.mergePlan(run.change, { app: plan });
        return { kind: 'done' };
      }
      case 'set-secret':
        return this.logins.setSecret(app, this.requirePlan(run, 'app'), run.secrets);
      case 'test-secret':
        return this.logins.testSecret(app, this.requirePlan(run, 'app'), run.secrets);
      case 'finish-secret':
        return this.logins.finishSecret(app, this.requirePlan(run, 'app'), run.secrets);
      case 'retire-previous': {
        const steps = await this.deps.store.getSteps(run.tenant.id, SAGA);
        return this.logins.retirePrevious(app, this.requirePlan(run, 'app'), {
          finishedAt: steps.get('app:finish-secret')?.finishedAt ?? this.now(),
          drainMs: this.deps.settings.rotationDrainMs,
          now: this.now(),
        });
      }
      default:
        return this.logins.terminateSessions(app, this.requirePlan(run, 'app'));
    }
  }

  /** The master secret's steps: a tenant's own instance only (a schema tenant's master is its host's). */
  private async masterStep(run: RotationRun, action: string): Promise<ChangeStepResult> {
    if (run.tenant.placement !== 'instance') {
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `${run.tenant.slug} is a ${run.tenant.placement} tenant: its master user is its host's, which a tenant's rotation never changes`,
      );
    }
    switch (action) {
      case 'create-secret':
        return this.createMasterSecret(run);
      case 'set-secret': {
        const pending = await this.pending(run, 'master');
        await this.deps.host.setMasterPassword({
          identifier: run.names.instanceIdentifier,
          masterUsername: String(pending.username),
          password: String(pending.password),
        });
        return { kind: 'done' };
      }
      case 'test-secret': {
        const { host, rds } = this.deps;
        if (host.kind === 'rds') {
          const view = await rds.describe(run.names.instanceIdentifier);
          if (view && view.status !== 'available')
            return { kind: 'wait', reason: `instance is ${view.status}` };
        }
        const pending = await this.pending(run, 'master');
        await checkLoginRetryable(this.deps.admin, (await run.app.access()).endpoint, {
          username: String(pending.username),
          password: String(pending.password),
        });
        return { kind: 'done' };
      }
      case 'finish-secret':
        await this.deps.secrets.promote(
          run.names.masterSecretName,
          this.requirePlan(run, 'master').versionId,
        );
        run.secrets.forgetCurrent(run.names.masterSecretName);
        // The steps after this one log in as the master with its new password.
        run.access = undefined;
        return { kind: 'done' };
      default:
        return this.terminateMasterSessions(run);
    }
  }

  /** A new master password AWSPENDING (or the pending version a run before left, adopted). */
  private async createMasterSecret(run: RotationRun): Promise<ChangeStepResult> {
    const { secrets } = this.deps;
    const name = run.names.masterSecretName;
    const stages = await secrets.versionStages(name);
    const planned = this.planOf(run, 'master');
    if (planned && stages[planned.versionId]) return { kind: 'done' };
    const current = await run.secrets.read(name);
    const pendingId = Object.keys(stages).find((v) => stages[v].includes('AWSPENDING'));
    let versionId: string;
    if (pendingId) {
      versionId = pendingId;
    } else {
      versionId = versionIdFor(run.change, 'master');
      await secrets.putPending(name, { ...current, password: generatePassword() }, versionId);
    }
    await run.secrets.read(name, { versionId });
    await this.changes.mergePlan(run.change, { master: { versionId } satisfies LoginPlan });
    return { kind: 'done' };
  }

  /**
   * The master user's sessions other than this one begun before its new password was tested, by
   * which time the old one no longer logged in. Idempotent: a re-run ends what is left.
   */
  private async terminateMasterSessions(run: RotationRun): Promise<ChangeStepResult> {
    const { endpoint, owner } = await run.app.access();
    const steps = await this.deps.store.getSteps(run.tenant.id, SAGA);
    return terminateSessionsOf(this.deps.admin, this.log, { tenantId: run.tenant.id }, endpoint, owner, {
      user: owner.username,
      startedBefore: steps.get('master:test-secret')?.finishedAt ?? this.now(),
      what: 'master user',
    });
  }

  private async finish(run: RotationRun, completion: StepCompletion): Promise<ChangeStepResult> {
    const plan = run.change.plan as { app?: LoginPlan; master?: LoginPlan };
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
        await this.logins.undo(run.app, app, !!steps.get('app:set-secret')?.attempts);
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

  /**
   * Where the tenant's logins are and who may alter them: its own instance as its master user
   * (the master secret now current: the app rotation runs before the master one), or its schema
   * host as the host's master user. A pooled tenant has no login of its own.
   */
  private async access(
    tenant: TenantRecord,
    names: TenantResourceNames,
    secrets: PassSecrets,
  ): Promise<LoginAccess> {
    switch (tenant.placement) {
      case 'instance': {
        const { endpointHost, endpointPort } = tenant.database;
        return {
          endpoint: this.deps.host.endpointOf({
            identifier: names.instanceIdentifier,
            rdsEndpoint: endpointHost && endpointPort ? { host: endpointHost, port: endpointPort } : null,
          }),
          owner: await secrets.credentials(names.masterSecretName),
        };
      }
      case 'schema': {
        const host = tenant.hostId ? await this.deps.hosts.host(tenant.hostId) : null;
        if (!host || host.status !== 'available') {
          throw new ProvisioningError(
            ProvisioningErrorCode.INCONSISTENT_STATE,
            host
              ? `host ${host.name} of ${tenant.slug} is ${host.status}, not available`
              : `schema tenant ${tenant.slug} is placed on no host`,
          );
        }
        return {
          endpoint: this.deps.host.endpointOf({
            identifier: host.instanceIdentifier,
            rdsEndpoint: host.endpoint,
          }),
          owner: await secrets.credentials(
            hostResourceNames(this.deps.settings.prefix, host.name).masterSecretName,
          ),
        };
      }
      case 'pool':
        throw new ProvisioningError(
          ProvisioningErrorCode.INCONSISTENT_STATE,
          `${tenant.slug} is a pooled tenant: it has no login of its own (its host's pool login is rotated with the host)`,
        );
    }
  }

  private planOf(run: RotationRun, kind: SecretKind): LoginPlan | undefined {
    return (run.change.plan as Partial<Record<SecretKind, LoginPlan>>)[kind];
  }

  private requirePlan(run: RotationRun, kind: SecretKind): LoginPlan {
    const plan = this.planOf(run, kind);
    if (!plan) {
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `the rotation has no pending ${kind} version recorded`,
      );
    }
    return plan;
  }

  private pending(run: RotationRun, kind: SecretKind) {
    const name = kind === 'app' ? run.names.appSecretName : run.names.masterSecretName;
    return run.secrets.read(name, { versionId: this.requirePlan(run, kind).versionId });
  }
}

/** The version id (ClientRequestToken) of a rotation's new version: derived, so a re-run asks for the same. */
function versionIdFor(change: TenantChangeEntity, kind: SecretKind): string {
  return derivedVersionId(`${change.tenantId}:${change.run}:${kind}`);
}
