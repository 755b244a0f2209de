import { parameterGroupName, type SecretJson } from '@silo/aws';
import type { TenantChangeEntity } from '@silo/control-plane-db';
import {
  APP_SCHEMA,
  ProvisioningError,
  ProvisioningErrorCode,
  tenantResourceNames,
  tenantTags,
} from '@silo/core';
import { appLoginRoles, disableLogins, ensureReadOnlyLogin } from '@silo/tenant-schema';
import { checkLoginRetryable } from '../changes/login-rotation';
import { pgEndpoint } from '../tenant-database-admin';
import { classifyPgError } from '../tenant-database-errors';
import type { DataSource } from 'typeorm';
import { connectionFields, whenAvailable } from '../backends/instance-lifecycle';
import type { TenantDatabaseEndpoint } from '../backends/tenant-database-host';
import {
  failingOf,
  openChangeFor,
  runChangeSteps,
  type ChangeFailure,
  type ChangeStepResult,
} from '../changes/change-steps';
import type { ChangeStore } from '../changes/change-store';
import { writeOutboxJob } from '../jobs/outbox';
import { REMOVE_RESTORE_COPY_JOB, removeRestoreCopyJobId } from '../jobs/provisioning-jobs';
import { generatePassword } from '../saga/passwords';
import type { SagaOutcome } from '../saga/provisioning-saga';
import type { StepDeps } from '../saga/provisioning-steps';
import { stepDepsInRegion } from '../saga/regional-deps';
import { passUnderTenantLock } from '../saga/tenant-pass';
import type { StepJournal } from '../saga/step-journal';
import type { SagaContext, SagaLog, StepCompletion, TenantRecord } from '../store/provisioning-store';
import { removeRestoreCopyInstance } from './restore-copy-removal';
import type { RestorePlan } from './restore-plan';

/** A restore as a copy beside the live tenant (an instance tenant's: a new instance). */
export const RESTORE_COPY_STEPS = [
  'copy-credentials',
  'restore-instance',
  'restore-available',
  'reader-login',
  'record-copy',
] as const;
export type RestoreStep = (typeof RESTORE_COPY_STEPS)[number];

const SAGA = 'restore' as const;
/** A restore copy's login: a few sessions of someone inspecting it. */
const READER_CONNECTION_LIMIT = 5;

export interface RestoreSagaDeps {
  deps: StepDeps;
  changes: ChangeStore;
  dataSource: DataSource;
  /** RESTORE_COPY_TTL_HOURS in ms. */
  copyTtlMs: number;
}

interface RestoreRun {
  tenant: TenantRecord;
  change: TenantChangeEntity;
  plan: RestorePlan;
  deps: StepDeps;
  ctx: SagaContext;
  secretValues: Map<string, SecretJson>;
}

/**
 * A restore of a live instance tenant as a copy (design: docs/restores.md): RDS restores the
 * tenant's instance to the point in time into a new instance beside it (the local backend
 * restores real data from its WAL archive), which gets a master password and a read-only login
 * of its own, both in Secrets Manager; the copy is recorded and removed RESTORE_COPY_TTL_HOURS
 * later. The tenant is served throughout, untouched. A failure removes what the restore made.
 */
export class RestoreSaga {
  constructor(
    private readonly r: RestoreSagaDeps,
    private readonly log: SagaLog,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async run(tenantId: string, ctx: SagaContext): Promise<SagaOutcome> {
    return passUnderTenantLock(this.r.deps, tenantId, () => this.pass(tenantId, ctx));
  }

  private async pass(tenantId: string, ctx: SagaContext): Promise<SagaOutcome> {
    const { deps, changes } = this.r;
    const found = await openChangeFor(
      deps,
      changes,
      tenantId,
      { kind: 'restore', what: 'restore', firstStep: RESTORE_COPY_STEPS[0] },
      ctx,
    );
    if ('outcome' in found) return found.outcome;
    const { tenant, change } = found;
    const plan = change.plan as unknown as RestorePlan;
    const run: RestoreRun = {
      tenant,
      change,
      plan,
      deps: stepDepsInRegion(deps, plan.region),
      ctx,
      secretValues: new Map(),
    };
    const failing = failingOf(change);
    if (failing) return this.compensate(run, failing);
    return runChangeSteps<RestoreStep>({
      deps,
      saga: SAGA,
      tenantId,
      status: tenant.status,
      ctx,
      log: this.log,
      now: this.now,
      steps: RESTORE_COPY_STEPS,
      step: (name, position, journal, attempts) => this.step(run, name, position, journal, attempts),
      fail: async (step, _position, error) => {
        const why = { code: error.code, message: error.message, step };
        await changes.mergePlan(change, { failing: why });
        return this.compensate(run, why);
      },
    });
  }

  private async step(
    run: RestoreRun,
    step: RestoreStep,
    position: number,
    journal: StepJournal,
    attempts: number,
  ): Promise<ChangeStepResult> {
    switch (step) {
      case 'copy-credentials':
        return this.copyCredentials(run);
      case 'restore-instance':
        return this.restoreInstance(run);
      case 'restore-available':
        return this.restoreAvailable(run);
      case 'reader-login':
        return this.readerLogin(run);
      case 'record-copy':
        return this.recordCopy(run, journal.completion(step, position, attempts));
    }
  }

  private tags(run: RestoreRun): Record<string, string> {
    return tenantTags(run.tenant, run.deps.settings.environment);
  }

  /** The copy's master secret, written before the instance exists (no crash can lose the password). */
  private async copyCredentials(run: RestoreRun): Promise<ChangeStepResult> {
    const { copy } = run.plan;
    const value = { engine: 'postgres', username: copy.masterUsername, password: generatePassword() };
    const { created } = await run.deps.secrets.create(copy.masterSecretName, value, {
      tags: this.tags(run),
      kmsKeyId: run.deps.settings.kmsKeyId,
      ownerTenantId: run.tenant.id,
    });
    if (created) run.secretValues.set(copy.masterSecretName, value);
    return { kind: 'done', data: { secret: copy.masterSecretName } };
  }

  /**
   * RestoreDBInstanceToPointInTime (or FromDBSnapshot) into the copy's instance: the tier's class
   * and storage, no Multi-AZ, no backups.
   */
  private async restoreInstance(run: RestoreRun): Promise<ChangeStepResult> {
    const { plan, tenant, deps } = run;
    const profile = deps.settings.tiers[tenant.tier];
    const target = {
      identifier: plan.copy.instanceIdentifier,
      engineVersion: profile.engineVersion,
      instanceClass: profile.instanceClass,
      storage: profile.storage,
      // A copy is read for a while and removed: one zone, no backups of its own, deletable.
      multiAz: false,
      deletionProtection: false,
      backupRetentionDays: 0,
      subnetGroupName: deps.settings.subnetGroup,
      securityGroupIds: deps.settings.securityGroupIds,
      parameterGroupName: parameterGroupName(deps.settings.prefix, profile.engineVersion),
      tags: this.tags(run),
    };
    const outcome =
      'snapshot' in plan.source
        ? await deps.rds.restoreFromSnapshot({
            snapshotIdentifier: plan.source.snapshot,
            ownerTenantId: tenant.id,
            target,
          })
        : await deps.rds.restoreToPointInTime({
            sourceInstanceIdentifier: plan.sourceInstance,
            restoreTime: new Date(plan.restoreTime),
            ownerTenantId: tenant.id,
            target,
          });
    return { kind: 'done', data: { instance: plan.copy.instanceIdentifier, outcome } };
  }

  /**
   * Once RDS says the copy is available: its database holds the data as of the restore time (the
   * local backend restores it now), its master user gets the copy's password (RDS restores keep
   * the source's), and the master secret gets its connection.
   */
  private async restoreAvailable(run: RestoreRun): Promise<ChangeStepResult> {
    const { plan, deps } = run;
    const identifier = plan.copy.instanceIdentifier;
    const found = await whenAvailable(deps.rds, identifier);
    if (found.kind === 'wait') return found;
    const { view } = found;
    const master = await this.master(run);
    await deps.host.restore({
      identifier,
      masterUsername: master.username,
      masterPassword: master.password,
      from:
        'snapshot' in plan.source
          ? { snapshotIdentifier: plan.source.snapshot }
          : { sourceIdentifier: plan.sourceInstance, pointInTime: new Date(plan.restoreTime) },
    });
    await deps.host.setMasterPassword({
      identifier,
      masterUsername: master.username,
      password: master.password,
    });
    const endpoint = deps.host.endpointOf({ identifier, rdsEndpoint: view.endpoint });
    const completed = {
      ...master.secret,
      ...connectionFields(endpoint, identifier),
      username: master.username,
      password: master.password,
    };
    await deps.secrets.write(plan.copy.masterSecretName, completed);
    run.secretValues.set(plan.copy.masterSecretName, completed);
    return { kind: 'done', data: { instance: identifier, database: endpoint.database } };
  }

  /**
   * The read-only login: its secret first (with the copy's connection), then the role. On RDS the
   * master password set by the step before is applied in the background: the instance is
   * `available` again and the password opens it before anything is made (retried until then).
   * A copy RDS restored holds the tenant's own app logins, as they were: they may not log in to
   * it (NOLOGIN), so that the tenant's live credentials open only the live tenant.
   */
  private async readerLogin(run: RestoreRun): Promise<ChangeStepResult> {
    const { plan, deps, tenant } = run;
    const master = await this.master(run);
    if (deps.host.kind === 'rds') {
      const view = await deps.rds.describe(plan.copy.instanceIdentifier);
      if (view && view.status !== 'available')
        return { kind: 'wait', reason: `restore copy is ${view.status}` };
    }
    const endpoint = await this.endpoint(run);
    await checkLoginRetryable(deps.admin, endpoint, master);
    const value = {
      ...connectionFields(endpoint, plan.copy.instanceIdentifier),
      username: plan.copy.readerRole,
      password: generatePassword(),
    };
    const { created } = await deps.secrets.create(plan.copy.readerSecretName, value, {
      tags: this.tags(run),
      kmsKeyId: deps.settings.kmsKeyId,
      ownerTenantId: tenant.id,
    });
    const stored = created ? value : await deps.secrets.read(plan.copy.readerSecretName);
    if (typeof stored?.password !== 'string' || stored.username !== plan.copy.readerRole)
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `secret ${plan.copy.readerSecretName} has no password or names another user`,
      );
    const owner = { username: master.username, password: master.password };
    const asMaster = pgEndpoint(endpoint, owner);
    const own = tenantResourceNames(deps.settings.prefix, tenant.slug);
    try {
      await ensureReadOnlyLogin(asMaster, owner, {
        role: plan.copy.readerRole,
        password: stored.password,
        schema: APP_SCHEMA,
        tenantId: tenant.id,
        connectionLimit: READER_CONNECTION_LIMIT,
      });
      // Not on the local backend: there roles are the server's, and these are the live tenant's too.
      if (deps.host.kind === 'rds') await disableLogins(asMaster, owner, appLoginRoles(own.appRole));
    } catch (error) {
      throw classifyPgError(
        error,
        `making the read-only login of restore copy ${plan.copy.instanceIdentifier}`,
      );
    }
    return { kind: 'done', data: { login: plan.copy.readerRole } };
  }

  /** The copy on record, its removal due at its TTL, the change SUCCEEDED: one transaction each, idempotent. */
  private async recordCopy(run: RestoreRun, completion: StepCompletion): Promise<ChangeStepResult> {
    const { plan, tenant, change, ctx } = run;
    const endpoint = await this.endpoint(run);
    const expiresAt = new Date(this.now().getTime() + this.r.copyTtlMs);
    await this.r.dataSource.transaction(async (em) => {
      const inserted = await em.query<Array<{ run: number }>>(
        `INSERT INTO tenant_restore_copies (tenant_id, run, status, source, region, instance_identifier,
                reader_secret_name, master_secret_name, endpoint_host, endpoint_port, database_name, expires_at)
         VALUES ($1, $2, 'AVAILABLE', $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (tenant_id, run) DO NOTHING RETURNING run`,
        [
          tenant.id,
          change.run,
          JSON.stringify(plan.source),
          plan.region === run.deps.settings.defaultRegion ? null : plan.region,
          plan.copy.instanceIdentifier,
          plan.copy.readerSecretName,
          plan.copy.masterSecretName,
          endpoint.host,
          endpoint.port,
          endpoint.database,
          expiresAt,
        ],
      );
      // Recorded by an earlier pass (with its removal job): nothing more to write.
      if (inserted.length === 0) return;
      await em.query(
        `UPDATE tenant_changes SET plan = plan || $3::jsonb, updated_at = now() WHERE tenant_id = $1 AND run = $2`,
        [tenant.id, change.run, JSON.stringify({ expiresAt: expiresAt.toISOString() })],
      );
      await writeOutboxJob(em, {
        name: REMOVE_RESTORE_COPY_JOB,
        id: removeRestoreCopyJobId(tenant.id, change.run),
        payload: { tenantId: tenant.id, run: String(change.run) },
        delayMs: this.r.copyTtlMs,
      });
    });
    await this.r.changes.succeed(
      change,
      null,
      completion,
      {
        type: 'tenant.restore_copy_ready',
        message: `restored as of ${plan.restoreTime} into ${plan.copy.instanceIdentifier}; read it with the login in ${plan.copy.readerSecretName} until ${expiresAt.toISOString()}`,
        data: {
          run: change.run,
          kind: 'restore',
          restoreTime: plan.restoreTime,
          instance: plan.copy.instanceIdentifier,
          readerSecret: plan.copy.readerSecretName,
          expiresAt: expiresAt.toISOString(),
        },
      },
      ctx,
    );
    return { kind: 'done', recorded: true };
  }

  private async endpoint(run: RestoreRun): Promise<TenantDatabaseEndpoint> {
    const identifier = run.plan.copy.instanceIdentifier;
    const view = await run.deps.rds.describe(identifier);
    if (!view)
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `restored instance ${identifier} is gone`,
      );
    return run.deps.host.endpointOf({ identifier, rdsEndpoint: view.endpoint });
  }

  private async master(run: RestoreRun): Promise<{ username: string; password: string; secret: SecretJson }> {
    const name = run.plan.copy.masterSecretName;
    let secret = run.secretValues.get(name) ?? null;
    if (!secret) {
      secret = await run.deps.secrets.read(name);
      if (secret) run.secretValues.set(name, secret);
    }
    const { username, password } = secret ?? {};
    if (typeof username !== 'string' || typeof password !== 'string' || !password || !secret)
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `secret ${name} is missing or has no username and password`,
      );
    return { username, password, secret };
  }

  /** A failure: what the restore made goes (instance, logins, secrets), then FAILED. The tenant never noticed. */
  private async compensate(run: RestoreRun, failing: ChangeFailure): Promise<SagaOutcome> {
    const removed = await removeRestoreCopyInstance(run.deps, run.tenant.id, run.plan.copy);
    if (removed.kind !== 'removed') return { kind: 'delay', delayMs: 5_000, reason: removed.reason };
    await this.r.changes.fail(
      run.change,
      failing,
      {
        type: 'tenant.change_failed',
        message: `restore as of ${run.plan.restoreTime} failed at ${failing.step}: ${failing.message}; what it made is removed, the tenant is untouched`,
        data: { run: run.change.run, kind: 'restore', code: failing.code, step: failing.step },
      },
      run.ctx,
    );
    return { kind: 'finished', status: run.tenant.status };
  }
}
