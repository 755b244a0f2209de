import { parameterGroupName, type SecretJson } from '@silo/aws';
import { OPEN_CHANGE_STATUSES, type TenantChangeEntity } from '@silo/control-plane-db';
import {
  APP_SCHEMA,
  failpoint,
  hostResourceNames,
  ProvisioningError,
  ProvisioningErrorCode,
  RolloutError,
  RolloutErrorCode,
  tenantResourceNames,
  tenantTags,
} from '@silo/core';
import {
  appLoginRoles,
  compareVersions,
  disableLogins,
  ensureReadOnlyLogin,
  readTenantLedger,
  RestoreSwapRefused,
  swapTenantData,
  tenantSwapRecorded,
  trimRestoredHost,
  type PgEndpoint,
} from '@silo/tenant-schema';
import { checkLoginRetryable } from '../changes/login-rotation';
import { pgEndpoint } from '../tenant-database-admin';
import { classifyPgError } from '../tenant-database-errors';
import type { DataSource, EntityManager } from 'typeorm';
import type { SchemaRollouts } from '../rollouts/schema-rollouts.service';
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
import { setWritesPaused, type RouteSignals } from '../moves/route-signals';
import { SharedHostSteps } from '../placements/shared-host-steps';
import { appendTenantEvent } from '../store/typeorm-provisioning-store';
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
/**
 * A restore in place (an instance tenant's): the restored instance made beside the tenant's under
 * another name, its app logins given the tenant's own passwords, then the cut-over: writes
 * paused, the tenant's instance renamed to the copy's name and the restored one to the tenant's,
 * the record switched, writes resumed. What the tenant's instance held is then a copy like any
 * other: a master and a read-only login of its own, removed at its TTL.
 */
export const RESTORE_REPLACE_STEPS = [
  'copy-credentials',
  'restore-instance',
  'restore-available',
  'app-logins',
  'cut-over',
  'copy-master',
  'reader-login',
  'record-copy',
] as const;
/**
 * A schema or pool tenant's restore as a copy: its host's instance restored to the time into the
 * copy's instance, which then keeps the tenant's schema or rows only (every other tenant's data
 * dropped from it) before its reader is made.
 */
export const RESTORE_SHARED_COPY_STEPS = [
  'copy-credentials',
  'restore-instance',
  'restore-available',
  'trim-copy',
  'reader-login',
  'record-copy',
] as const;
/**
 * A schema or pool tenant's restore in place: the copy made and trimmed as for a copy, then
 * swap-data: writes paused, the tenant's rows on its live host and in the copy swapped (the
 * restored ones in place, the live ones in the copy), writes resumed.
 */
export const RESTORE_SHARED_REPLACE_STEPS = [
  'copy-credentials',
  'restore-instance',
  'restore-available',
  'trim-copy',
  'swap-data',
  'reader-login',
  'record-copy',
] as const;
export type RestoreStep =
  | (typeof RESTORE_REPLACE_STEPS)[number]
  | (typeof RESTORE_SHARED_COPY_STEPS)[number]
  | (typeof RESTORE_SHARED_REPLACE_STEPS)[number];

/** The steps past a restore in place's point of no return: retried until done, never undone. */
const AFTER_SWITCH: ReadonlySet<RestoreStep> = new Set(['copy-master', 'reader-login', 'record-copy']);

export function restoreSteps(plan: Pick<RestorePlan, 'mode' | 'placement'>): readonly RestoreStep[] {
  if (plan.placement && plan.placement !== 'instance')
    return plan.mode === 'replace' ? RESTORE_SHARED_REPLACE_STEPS : RESTORE_SHARED_COPY_STEPS;
  return plan.mode === 'replace' ? RESTORE_REPLACE_STEPS : RESTORE_COPY_STEPS;
}

const SAGA = 'restore' as const;
/**
 * Every login of an app role: its two alternating logins and the role itself, which tenants made
 * before the logins alternated still log in as.
 */
function appRoleAndLogins(role: string): string[] {
  return [role, ...appLoginRoles(role)];
}

/** How soon a restore in place looks again at an instance RDS is renaming. */
const RENAME_POLL_MS = 5_000;
/** A restore copy's login: a few sessions of someone inspecting it. */
const READER_CONNECTION_LIMIT = 5;

export interface RestoreSagaDeps {
  deps: StepDeps;
  changes: ChangeStore;
  dataSource: DataSource;
  /** RESTORE_COPY_TTL_HOURS in ms. */
  copyTtlMs: number;
  /** Tells the data plane of a restore in place's pause and switch. */
  signals: RouteSignals;
  /** Starts the rollout a restore in place asks for (`plan.rollout`) in its last step's transaction. */
  rollouts: Pick<SchemaRollouts, 'startIn'>;
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
      steps: restoreSteps(plan),
      step: (name, position, journal, attempts) => this.step(run, name, position, journal, attempts),
      fail: (step, _position, error) => this.failed(run, step, error),
    });
  }

  private async step(
    run: RestoreRun,
    step: RestoreStep,
    position: number,
    journal: StepJournal,
    attempts: number,
  ): Promise<ChangeStepResult> {
    const result = await this.stepWork(run, step, position, journal, attempts);
    if (result.kind === 'done' && run.change.errorStep === step) await this.unstuck(run, step);
    return result;
  }

  private async stepWork(
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
      case 'app-logins':
        return this.appLogins(run);
      case 'trim-copy':
        return this.trimCopy(run);
      case 'swap-data':
        return this.swapData(run);
      case 'cut-over':
        return this.cutOver(run);
      case 'copy-master':
        return this.copyMaster(run);
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
    // Only an instance tenant's restore in place makes its instance-to-be; every other restore a copy.
    const replace = plan.incomingInstance !== null;
    const target = {
      identifier: this.restored(run),
      engineVersion: profile.engineVersion,
      instanceClass: profile.instanceClass,
      storage: profile.storage,
      // A copy is read for a while and removed: one zone, no backups of its own, deletable. The
      // tenant's own instance-to-be has the tier's (its deletion protection once it is switched to).
      multiAz: replace ? profile.multiAz : false,
      deletionProtection: false,
      backupRetentionDays: replace ? profile.backupRetentionDays : 0,
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
    return { kind: 'done', data: { instance: target.identifier, outcome } };
  }

  /** The instance the restore makes: the copy, or (in place) the tenant's instance-to-be. */
  private restored(run: RestoreRun): string {
    return run.plan.incomingInstance ?? run.plan.copy.instanceIdentifier;
  }

  private ownNames(run: RestoreRun) {
    return tenantResourceNames(run.deps.settings.prefix, run.tenant.slug);
  }

  /**
   * Once RDS says the copy is available: its database holds the data as of the restore time (the
   * local backend restores it now), its master user gets the copy's password (RDS restores keep
   * the source's), and the master secret gets its connection.
   */
  private async restoreAvailable(run: RestoreRun): Promise<ChangeStepResult> {
    const { plan, deps } = run;
    const identifier = this.restored(run);
    const found = await whenAvailable(deps.rds, identifier);
    if (found.kind === 'wait') return found;
    const { view } = found;
    // In place, the restored instance is the tenant's to be: its master is the tenant's own.
    const replace = plan.incomingInstance !== null;
    const master = replace
      ? await this.login(run, this.ownNames(run).masterSecretName)
      : await this.master(run);
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
    if (replace) return { kind: 'done', data: { instance: identifier, database: endpoint.database } };
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
        schema: plan.schema ?? APP_SCHEMA,
        tenantId: tenant.id,
        connectionLimit: READER_CONNECTION_LIMIT,
      });
      // Not on the local backend: there roles are the server's, and these are the live tenant's too.
      // A pool's copy holds one tenant's rows: the pool's shared logins end there too.
      const foreign =
        plan.placement === 'pool' && plan.hostName
          ? appRoleAndLogins(hostResourceNames(deps.settings.prefix, plan.hostName).poolAppRole)
          : appRoleAndLogins(own.appRole);
      if (deps.host.kind === 'rds') await disableLogins(asMaster, owner, foreign);
    } catch (error) {
      throw classifyPgError(
        error,
        `making the read-only login of restore copy ${plan.copy.instanceIdentifier}`,
      );
    }
    return { kind: 'done', data: { login: plan.copy.readerRole } };
  }

  /**
   * A shared tenant's copy holds its whole host as of the time: every other tenant's schema, or
   * rows, go from it (as its owner, in one transaction) before anyone can read it.
   */
  private async trimCopy(run: RestoreRun): Promise<ChangeStepResult> {
    const { plan, deps, tenant } = run;
    const placement = plan.placement;
    if (placement !== 'schema' && placement !== 'pool')
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `a ${placement ?? 'instance'} copy is not trimmed`,
      );
    const master = await this.master(run);
    const found = await this.reach(run, plan.copy.instanceIdentifier);
    if (!found)
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `restored instance ${plan.copy.instanceIdentifier} is gone`,
      );
    if (deps.host.kind === 'rds' && found.status !== 'available')
      return { kind: 'wait', reason: `restore copy is ${found.status}` };
    const owner = { username: master.username, password: master.password };
    await checkLoginRetryable(deps.admin, found.endpoint, owner);
    try {
      const trimmed = await trimRestoredHost(pgEndpoint(found.endpoint, owner), {
        placement,
        schema: plan.schema ?? APP_SCHEMA,
        tenantId: tenant.id,
      });
      return {
        kind: 'done',
        data: { droppedSchemas: trimmed.droppedSchemas.length, deletedRows: trimmed.deletedRows },
      };
    } catch (error) {
      throw classifyPgError(
        error,
        `keeping only ${tenant.slug}'s data in restore copy ${plan.copy.instanceIdentifier}`,
      );
    }
  }

  /** The copy on record, its removal due at its TTL, the change SUCCEEDED: one transaction each, idempotent. */
  private async recordCopy(run: RestoreRun, completion: StepCompletion): Promise<ChangeStepResult> {
    const { plan, tenant, change, ctx } = run;
    const endpoint = await this.endpoint(run);
    const expiresAt = new Date(this.now().getTime() + this.r.copyTtlMs);
    // In place, the copy holds the tenant's data as it was when the restore replaced it.
    const switchedAt = (change.plan as { cutOver?: { switchedAt?: string } }).cutOver?.switchedAt;
    const source =
      plan.mode === 'replace' ? { replacedAt: switchedAt ?? this.now().toISOString() } : plan.source;
    await this.r.dataSource.transaction(async (em) => {
      const inserted = await em.query<Array<{ run: number }>>(
        `INSERT INTO tenant_restore_copies (tenant_id, run, status, source, region, instance_identifier,
                reader_secret_name, master_secret_name, endpoint_host, endpoint_port, database_name, expires_at)
         VALUES ($1, $2, 'AVAILABLE', $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (tenant_id, run) DO NOTHING RETURNING run`,
        [
          tenant.id,
          change.run,
          JSON.stringify(source),
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
        message:
          plan.mode === 'replace'
            ? `restored in place as of ${plan.restoreTime}; the data it replaced is in ${plan.copy.instanceIdentifier}: read it with the login in ${plan.copy.readerSecretName} until ${expiresAt.toISOString()}`
            : `restored as of ${plan.restoreTime} into ${plan.copy.instanceIdentifier}; read it with the login in ${plan.copy.readerSecretName} until ${expiresAt.toISOString()}`,
        data: {
          run: change.run,
          kind: 'restore',
          mode: plan.mode,
          restoreTime: plan.restoreTime,
          instance: plan.copy.instanceIdentifier,
          readerSecret: plan.copy.readerSecretName,
          expiresAt: expiresAt.toISOString(),
        },
      },
      ctx,
      plan.rollout && plan.mode === 'replace' ? (em) => this.startRollout(run, em) : undefined,
    );
    return { kind: 'done', recorded: true };
  }

  /**
   * In the last step's transaction (the restore SUCCEEDED with it, so the rollout's migration does
   * not wait on an open change): when the restored data's schema version is behind the newest
   * migration, a rollout of this tenant alone to the newest (one wave, one at a time, failing at
   * the first failure), and `tenant.restore_rollout` saying which; when another rollout is open,
   * none, and the event says so (a rollout after it, or a later one, brings the tenant forward).
   */
  private async startRollout(run: RestoreRun, em: EntityManager): Promise<void> {
    const { tenant, ctx, deps, change } = run;
    const newest = deps.settings.migrations.newest;
    const [row] = await em.query<Array<{ schema_version: string | null }>>(
      `SELECT schema_version FROM tenants WHERE id = $1`,
      [tenant.id],
    );
    const version = row?.schema_version ?? null;
    if (version !== null && compareVersions(version, newest) >= 0) return;
    let rolloutId: string | null = null;
    let why: string | null = null;
    try {
      rolloutId = await this.r.rollouts.startIn(
        em,
        {
          tenants: [tenant.id],
          canary: 0,
          waves: [100],
          maxConcurrency: 1,
          failureThreshold: 1,
          pauseBetweenWaves: false,
        },
        ctx,
      );
    } catch (error) {
      if (!(error instanceof RolloutError) || error.code !== RolloutErrorCode.ROLLOUT_ALREADY_OPEN)
        throw error;
      why = error.message;
    }
    await appendTenantEvent(
      em,
      tenant.id,
      {
        type: 'tenant.restore_rollout',
        message: rolloutId
          ? `rollout ${rolloutId} started: the restored data is at ${version ?? 'no version'}, the newest migration ${newest}`
          : `no rollout started for the restored data at ${version ?? 'no version'} (the newest is ${newest}): ${why}`,
        data: { run: change.run, schemaVersion: version, newest, rolloutId, ...(why && { notStarted: why }) },
      },
      ctx,
    );
  }

  /** Where an instance answers now, from RDS; null while RDS has no instance of that name. */
  private async reach(
    run: RestoreRun,
    identifier: string,
  ): Promise<{ endpoint: TenantDatabaseEndpoint; status: string } | null> {
    const view = await run.deps.rds.describe(identifier);
    if (!view) return null;
    return {
      endpoint: run.deps.host.endpointOf({ identifier, rdsEndpoint: view.endpoint }),
      status: view.status,
    };
  }

  /**
   * In place: the restored instance's app role and logins converge to the tenant's app secret,
   * so that the application's credentials open it once it is switched to (RDS restored the
   * logins with the passwords of the restore time; the local backend restores no grants).
   */
  private async appLogins(run: RestoreRun): Promise<ChangeStepResult> {
    const { deps, tenant } = run;
    const own = this.ownNames(run);
    const identifier = this.restored(run);
    const found = await this.reach(run, identifier);
    if (!found)
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `restored instance ${identifier} is gone`,
      );
    // The master password set by the step before is applied in the background on RDS.
    if (deps.host.kind === 'rds' && found.status !== 'available')
      return { kind: 'wait', reason: `restored instance is ${found.status}` };
    const master = await this.login(run, own.masterSecretName);
    const owner = { username: master.username, password: master.password };
    await checkLoginRetryable(deps.admin, found.endpoint, owner);
    const app = await deps.secrets.read(own.appSecretName);
    const { username, password } = app ?? {};
    if (
      typeof password !== 'string' ||
      !password ||
      (username !== own.appRole && !appLoginRoles(own.appRole).includes(String(username)))
    )
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `secret ${own.appSecretName} has no password or names a user other than the app logins`,
      );
    await deps.admin.bootstrapAppRole(found.endpoint, owner, {
      role: own.appRole,
      ...(username !== own.appRole && { login: String(username) }),
      password,
      schema: APP_SCHEMA,
      tenantId: tenant.id,
    });
    return { kind: 'done', data: { instance: identifier, login: String(username) } };
  }

  /**
   * In place: writes paused, then the tenant's instance renamed to the copy's name (the old data
   * takes no more of the tenant's writes: its app logins end there) and the restored instance to
   * the tenant's name, then the switch: the record names what the restored data holds, the route
   * version moves on, writes resume. On RDS a rename moves the endpoint with the name, so the
   * tenant's secrets keep naming the right host. Each rename is found done by the names RDS
   * answers to and the plan's `renamed`, so a pass after a crash carries on where it stopped.
   * The first rename is the point of no return: from there the step is retried, never undone.
   */
  private async cutOver(run: RestoreRun): Promise<ChangeStepResult> {
    const { plan, deps, tenant, change } = run;
    const recorded = change.plan as { cutOver?: Record<string, unknown> };
    if (plan.switched) return { kind: 'done', data: { ...recorded.cutOver } };
    const own = this.ownNames(run);
    const live = own.instanceIdentifier;
    const copy = plan.copy.instanceIdentifier;
    const incoming = this.restored(run);
    const pausedAt = await this.pauseWrites(run);
    const master = await this.login(run, own.masterSecretName);
    const owner = { username: master.username, password: master.password };
    if (!plan.renamed) {
      let old = await this.reach(run, copy);
      if (!plan.renaming) {
        // Not renamed by this restore: an instance of the copy's name is something else's.
        if (old)
          throw new ProvisioningError(
            ProvisioningErrorCode.RESOURCE_NAME_TAKEN,
            `an instance named ${copy} exists that this restore did not make: ${tenant.slug}'s instance cannot take that name`,
          );
        if (!(await this.reach(run, live)))
          throw new ProvisioningError(
            ProvisioningErrorCode.INCONSISTENT_STATE,
            `${tenant.slug}'s instance ${live} is gone`,
          );
        // The point of no return, recorded before it is passed.
        plan.renaming = true;
        await this.r.changes.mergePlan(change, { renaming: true });
      }
      if (!old) {
        await deps.rds.rename(live, copy);
        failpoint('restore:live-renamed');
        old = await this.reach(run, copy);
      }
      if (!old || old.status !== 'available')
        return { kind: 'wait', reason: `renaming ${live} to ${copy}`, delayMs: RENAME_POLL_MS };
      await deps.host.rename({ from: live, to: copy });
      // No write of the tenant's reaches the old data any more (the local backend's rename ended every session).
      if (deps.host.kind === 'rds')
        await disableLogins(pgEndpoint(old.endpoint, owner), owner, appRoleAndLogins(own.appRole)).catch(
          (error: unknown) => {
            throw classifyPgError(error, `ending ${tenant.slug}'s app logins on ${copy}`);
          },
        );
      plan.renamed = 'live-to-copy';
      await this.r.changes.mergePlan(change, { renamed: plan.renamed });
    }
    if (plan.renamed === 'live-to-copy') {
      let now = await this.reach(run, live);
      if (!now) {
        if (!(await this.reach(run, incoming)))
          throw new ProvisioningError(
            ProvisioningErrorCode.INCONSISTENT_STATE,
            `restored instance ${incoming} is gone`,
          );
        await deps.rds.rename(incoming, live);
        now = await this.reach(run, live);
      }
      if (!now || now.status !== 'available')
        return { kind: 'wait', reason: `renaming ${incoming} to ${live}`, delayMs: RENAME_POLL_MS };
      await deps.host.rename({ from: incoming, to: live });
      plan.renamed = 'incoming-to-live';
      await this.r.changes.mergePlan(change, { renamed: plan.renamed });
    }
    const view = await deps.rds.describe(live);
    if (!view)
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `${tenant.slug}'s instance ${live} is gone`,
      );
    // The restore made the instance without the tier's deletion protection and Performance Insights.
    const profile = deps.settings.tiers[tenant.tier];
    const wantsProtection = profile.deletionProtection && !view.deletionProtection;
    const wantsInsights = profile.performanceInsights.enabled && view.performanceInsights?.enabled !== true;
    if (wantsProtection || wantsInsights)
      await deps.rds.modify(
        live,
        {
          ...(wantsProtection && { deletionProtection: true }),
          ...(wantsInsights && { performanceInsights: profile.performanceInsights }),
        },
        { applyImmediately: true, kmsKeyId: deps.settings.kmsKeyId },
      );
    const endpoint = deps.host.endpointOf({ identifier: live, rdsEndpoint: view.endpoint });
    let ledger;
    try {
      ledger = await readTenantLedger(pgEndpoint(endpoint, owner));
    } catch (error) {
      throw classifyPgError(error, `reading the schema version of ${tenant.slug}'s restored data`);
    }
    const schemaVersion =
      ledger
        .map((e) => e.version)
        .sort(compareVersions)
        .at(-1) ?? null;
    await this.refreshConnection(run, own.appSecretName, endpoint, live);
    await this.refreshConnection(run, own.masterSecretName, endpoint, live);
    const cutOver = {
      pausedForMs: Math.max(0, this.now().getTime() - new Date(pausedAt).getTime()),
      schemaVersion,
      newestSchemaVersion: deps.settings.migrations.newest,
      switchedAt: this.now().toISOString(),
    };
    const behind = schemaVersion !== null && compareVersions(schemaVersion, cutOver.newestSchemaVersion) < 0;
    const routeVersion = await this.switchRoute(
      run,
      cutOver,
      `restored in place as of ${plan.restoreTime}: writes paused ${cutOver.pausedForMs} ms; ` +
        `the data is at schema version ${schemaVersion ?? 'none'}` +
        (behind ? `, behind the newest ${cutOver.newestSchemaVersion}: a rollout brings it forward` : ''),
      { view, schemaVersion },
    );
    return { kind: 'done', data: { ...cutOver, routeVersion } };
  }

  /** The tenant's writes paused (the data plane holds them), once: the pause is timed from then. */
  private async pauseWrites(run: RestoreRun): Promise<string> {
    const { plan, tenant, change } = run;
    if (!plan.pausedAt) {
      await setWritesPaused(this.r.dataSource, this.r.signals, tenant.id, true);
      plan.pausedAt = this.now().toISOString();
      await this.r.changes.mergePlan(change, { pausedAt: plan.pausedAt });
    }
    return plan.pausedAt;
  }

  /**
   * A shared tenant in place: writes paused, then its data on its live host and in the (trimmed)
   * copy swapped by swapTenantData (crash-safe: the live side records the swap in the
   * transaction that makes it), then the switch: route version on, writes resume,
   * tenant.restored. Its neighbours on the host wait on its tables only for the swap's length.
   * The swap recorded is the point of no return: a pass that finds it goes on to the switch
   * without the copy, which from then on holds the tenant's data as it was before.
   */
  private async swapData(run: RestoreRun): Promise<ChangeStepResult> {
    const { plan, deps, tenant, change } = run;
    const recorded = change.plan as { cutOver?: Record<string, unknown> };
    if (plan.switched) return { kind: 'done', data: { ...recorded.cutOver } };
    const placement = plan.placement;
    if (placement !== 'schema' && placement !== 'pool')
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `a ${placement ?? 'instance'} tenant's data is not swapped`,
      );
    const live = await this.liveHost(run, placement);
    let placed: Record<string, number> = {};
    if (!plan.pausedAt || !(await this.swapRecorded(run, live))) {
      const copy = await this.reach(run, plan.copy.instanceIdentifier);
      if (!copy)
        throw new ProvisioningError(
          ProvisioningErrorCode.INCONSISTENT_STATE,
          `restore copy ${plan.copy.instanceIdentifier} is gone`,
        );
      const master = await this.master(run);
      await this.pauseWrites(run);
      try {
        placed = await swapTenantData({
          placement,
          schema: plan.schema ?? APP_SCHEMA,
          tenantId: tenant.id,
          swapId: this.swapId(run),
          live: { owner: live },
          copy: { owner: pgEndpoint(copy.endpoint, master) },
        });
      } catch (error) {
        if (error instanceof RestoreSwapRefused)
          throw new ProvisioningError(ProvisioningErrorCode.DATABASE_REJECTED, error.message, {
            cause: error,
          });
        throw classifyPgError(
          error,
          `swapping ${tenant.slug}'s data with restore copy ${plan.copy.instanceIdentifier}`,
        );
      }
    }
    const pausedAt = plan.pausedAt ?? this.now().toISOString();
    const cutOver = {
      pausedForMs: Math.max(0, this.now().getTime() - new Date(pausedAt).getTime()),
      schemaVersion: tenant.database.schemaVersion,
      newestSchemaVersion: deps.settings.migrations.newest,
      switchedAt: this.now().toISOString(),
      rows: placed,
    };
    const routeVersion = await this.switchRoute(
      run,
      cutOver,
      `restored in place as of ${plan.restoreTime}: writes paused ${cutOver.pausedForMs} ms`,
    );
    return { kind: 'done', data: { ...cutOver, routeVersion } };
  }

  /** The shared tenant's live host, as its owner. */
  private async liveHost(run: RestoreRun, placement: 'schema' | 'pool'): Promise<PgEndpoint> {
    const access = await new SharedHostSteps(run.deps, placement).hostAccess({
      tenant: run.tenant,
      names: this.ownNames(run),
      profile: run.deps.settings.tiers[run.tenant.tier],
      tags: {},
      ctx: run.ctx,
      secretValues: run.secretValues,
    });
    return pgEndpoint(access.endpoint, access.owner);
  }

  private swapId(run: RestoreRun): string {
    return `${run.tenant.id}:${run.change.run}`;
  }

  private async swapRecorded(run: RestoreRun, live: PgEndpoint): Promise<boolean> {
    try {
      return await tenantSwapRecorded(live, this.swapId(run));
    } catch (error) {
      throw classifyPgError(error, `reading whether ${run.tenant.slug}'s data was swapped`);
    }
  }

  /**
   * Whether a shared tenant's swap may have been made: switched, or its writes paused for it and
   * the live host's record saying so, or not answering (then it may have been: nothing is undone
   * until the host says it was not).
   */
  private async swapMayBeMade(run: RestoreRun): Promise<boolean> {
    const { plan } = run;
    if (plan.mode !== 'replace' || !plan.placement || plan.placement === 'instance') return false;
    if (plan.switched) return true;
    if (!plan.pausedAt) return false;
    try {
      return await this.swapRecorded(run, await this.liveHost(run, plan.placement));
    } catch (error) {
      this.log.warn(
        { tenantId: run.tenant.id, err: error instanceof Error ? error.message : String(error) },
        'cannot tell whether the restore swapped the tenant’s data; nothing is undone',
      );
      return true;
    }
  }

  /** A secret's connection fields, rewritten where they no longer name where the instance answers. */
  private async refreshConnection(
    run: RestoreRun,
    name: string,
    endpoint: TenantDatabaseEndpoint,
    identifier: string,
  ): Promise<void> {
    const secret = await run.deps.secrets.read(name);
    if (!secret)
      throw new ProvisioningError(ProvisioningErrorCode.INCONSISTENT_STATE, `secret ${name} is missing`);
    const fields = connectionFields(endpoint, identifier);
    const stale = Object.entries(fields).some(([key, value]) => secret[key] !== value);
    if (stale) await run.deps.secrets.write(name, { ...secret, ...fields });
  }

  /**
   * The switch, in one control-plane transaction: the route version moves on and writes resume
   * (an instance tenant's record also takes what RDS says of its restored instance and the
   * schema version its data holds), the change records it, `tenant.restored`; then the data
   * plane is told. Returns the new route version.
   */
  private async switchRoute(
    run: RestoreRun,
    cutOver: { pausedForMs: number },
    message: string,
    instance?: {
      view: {
        endpoint: { host: string; port: number } | null;
        instanceClass: string;
        engineVersion: string;
        multiAz: boolean;
      };
      schemaVersion: string | null;
    },
  ): Promise<number> {
    const { tenant, change, plan, ctx } = run;
    const routeVersion = await this.r.dataSource.transaction(async (em) => {
      const [[row]] = instance
        ? await em.query<[Array<{ route_version: number }>, number]>(
            `UPDATE tenants SET db_endpoint_host = $2, db_endpoint_port = $3, db_instance_class = $4,
                    db_engine_version = $5, db_multi_az = $6, schema_version = $7,
                    route_version = route_version + 1, writes_paused_at = NULL, updated_at = now(), version = version + 1
              WHERE id = $1 RETURNING route_version`,
            [
              tenant.id,
              instance.view.endpoint?.host ?? null,
              instance.view.endpoint?.port ?? null,
              instance.view.instanceClass,
              instance.view.engineVersion,
              instance.view.multiAz,
              instance.schemaVersion,
            ],
          )
        : await em.query<[Array<{ route_version: number }>, number]>(
            `UPDATE tenants SET route_version = route_version + 1, writes_paused_at = NULL, updated_at = now(), version = version + 1
              WHERE id = $1 RETURNING route_version`,
            [tenant.id],
          );
      await em.query(
        `UPDATE tenant_changes SET plan = plan || $3::jsonb, updated_at = now() WHERE tenant_id = $1 AND run = $2`,
        [tenant.id, change.run, JSON.stringify({ cutOver, switched: true })],
      );
      await appendTenantEvent(
        em,
        tenant.id,
        {
          type: 'tenant.restored',
          message,
          data: { run: change.run, restoreTime: plan.restoreTime, ...cutOver },
        },
        ctx,
      );
      return row.route_version;
    });
    plan.switched = true;
    await this.r.signals.publish({ tenantId: tenant.id, routeVersion, writesPaused: false });
    return routeVersion;
  }

  /**
   * In place, after the switch: the tenant's old instance, now the copy, gets a master of its own
   * (its secret written by the first step), which the tenant's master credentials no longer open.
   */
  private async copyMaster(run: RestoreRun): Promise<ChangeStepResult> {
    const { plan, deps } = run;
    const identifier = plan.copy.instanceIdentifier;
    const found = await whenAvailable(deps.rds, identifier);
    if (found.kind === 'wait') return found;
    const master = await this.master(run);
    await deps.host.handOver({
      identifier,
      masterUsername: master.username,
      password: master.password,
      previousOwner: this.ownNames(run).masterUsername,
    });
    const endpoint = deps.host.endpointOf({ identifier, rdsEndpoint: found.view.endpoint });
    const completed = {
      ...master.secret,
      ...connectionFields(endpoint, identifier),
      username: master.username,
      password: master.password,
    };
    await deps.secrets.write(plan.copy.masterSecretName, completed);
    run.secretValues.set(plan.copy.masterSecretName, completed);
    return { kind: 'done', data: { instance: identifier } };
  }

  /**
   * A step that failed for good. Before a restore in place's point of no return (and for a copy),
   * what the restore made is removed and the change FAILED; after it there is no way back but
   * forward: the step is tried again every RETRY_MAX_DELAY_MS, for the tenant's data has been
   * switched (or is being), and the change shows why it is stuck. The point of no return is an
   * instance's first rename, or a shared tenant's swap recorded on its live host.
   */
  private async failed(run: RestoreRun, step: RestoreStep, error: ProvisioningError): Promise<SagaOutcome> {
    const { plan } = run;
    const past =
      plan.mode === 'replace' &&
      (AFTER_SWITCH.has(step) ||
        (step === 'cut-over' && plan.renaming === true) ||
        (step === 'swap-data' && (await this.swapMayBeMade(run))));
    if (past) return this.stuck(run, step, error);
    const why = { code: error.code, message: error.message, step };
    await this.r.changes.mergePlan(run.change, { failing: why });
    return this.compensate(run, why);
  }

  /**
   * Past the point of no return a failure is retried, never undone: the change (still RUNNING)
   * carries the error, with a `tenant.change_stuck` event when it is new, until the step passes.
   */
  private async stuck(run: RestoreRun, step: RestoreStep, error: ProvisioningError): Promise<SagaOutcome> {
    const { tenant, change, ctx } = run;
    const delayMs = this.r.deps.settings.retry.maxDelayMs;
    this.log.error(
      { tenantId: tenant.id, step, code: error.code, err: error.message, delayMs },
      'restore in place past its point of no return failed; trying again (nothing is undone from here)',
    );
    const known = change.errorStep === step && change.errorCode === error.code;
    await this.r.dataSource.transaction(async (em) => {
      await em.query(
        `UPDATE tenant_changes SET error_code = $3, error_message = $4, error_step = $5, updated_at = now()
          WHERE tenant_id = $1 AND run = $2 AND status = ANY($6)`,
        [tenant.id, change.run, error.code, error.message, step, [...OPEN_CHANGE_STATUSES]],
      );
      if (!known)
        await appendTenantEvent(
          em,
          tenant.id,
          {
            type: 'tenant.change_stuck',
            message:
              `restore in place past its point of no return: ${step} failed (${error.code}): ${error.message}; ` +
              `tried again every ${delayMs} ms, nothing is undone`,
            data: { run: change.run, kind: 'restore', step, code: error.code, delayMs },
          },
          ctx,
        );
    });
    Object.assign(change, { errorCode: error.code, errorMessage: error.message, errorStep: step });
    return { kind: 'delay', delayMs, reason: `${step} past the point of no return` };
  }

  /** The stuck step passed: the change's error goes. */
  private async unstuck(run: RestoreRun, step: RestoreStep): Promise<void> {
    const { tenant, change } = run;
    await this.r.dataSource.query(
      `UPDATE tenant_changes SET error_code = NULL, error_message = NULL, error_step = NULL, updated_at = now()
        WHERE tenant_id = $1 AND run = $2 AND error_step = $3`,
      [tenant.id, change.run, step],
    );
    Object.assign(change, { errorCode: null, errorMessage: null, errorStep: null });
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

  /** The copy's master login, from its secret. */
  private master(run: RestoreRun): Promise<{ username: string; password: string; secret: SecretJson }> {
    return this.login(run, run.plan.copy.masterSecretName);
  }

  /** A login from its secret, read at most once per pass. */
  private async login(
    run: RestoreRun,
    name: string,
  ): Promise<{ username: string; password: string; secret: SecretJson }> {
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
    // A shared tenant's swap made (a failure recorded before it was known to be made): the copy
    // holds what the tenant had. It is kept, and the restore goes forward instead.
    if (await this.swapMayBeMade(run)) {
      await this.r.changes.mergePlan(run.change, { failing: null });
      return {
        kind: 'delay',
        delayMs: this.r.deps.settings.retry.baseDelayMs,
        reason: 'the swap is made: the restore goes on forward',
      };
    }
    // In place, before its first rename: the restored instance goes (under its own name; the
    // tenant's instance was never touched) and writes resume.
    // Writes resume first: the tenant was never touched, and removing the instance takes minutes on RDS.
    if (run.plan.mode === 'replace')
      await setWritesPaused(this.r.dataSource, this.r.signals, run.tenant.id, false);
    const removed = await removeRestoreCopyInstance(run.deps, run.tenant.id, {
      ...run.plan.copy,
      instanceIdentifier: this.restored(run),
    });
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
