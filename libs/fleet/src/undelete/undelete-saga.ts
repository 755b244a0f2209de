import { parameterGroupName, type SecretJson } from '@silo/aws';
import { ProvisioningStepEntity, type TenantChangeEntity } from '@silo/control-plane-db';
import {
  APP_SCHEMA,
  ProvisioningError,
  ProvisioningErrorCode,
  tenantResourceNames,
  tenantTags,
  transition,
} from '@silo/core';
import { appLoginRoles } from '@silo/tenant-schema';
import type { DataSource, EntityManager } from 'typeorm';
import {
  connectionFields,
  publishedEndpoint,
  removeInstanceWithoutSnapshot,
  whenAvailable,
} from '../backends/instance-lifecycle';
import {
  failingOf,
  runChangeSteps,
  type ChangeFailure,
  type ChangeStepResult,
} from '../changes/change-steps';
import type { ChangeStore } from '../changes/change-store';
import { checkLoginRetryable } from '../changes/login-rotation';
import type { SagaOutcome } from '../saga/provisioning-saga';
import {
  bootstrapTenantApp,
  migrateForProvisioning,
  ProvisioningSteps,
  type StepDeps,
  type StepRun,
} from '../saga/provisioning-steps';
import { stepDepsInRegion } from '../saga/regional-deps';
import type { StepJournal } from '../saga/step-journal';
import { ALARM_METRICS } from '../saga/tenant-alarm-specs';
import { passUnderTenantLock } from '../saga/tenant-pass';
import { OPEN_CHANGE_STATUSES } from '@silo/control-plane-db';
import {
  stepDonePatch,
  type SagaContext,
  type SagaLog,
  type StepCompletion,
} from '../store/provisioning-store';
import { appendTenantEvent } from '../store/typeorm-provisioning-store';
import type { HostAllocator } from '../hosts/host-allocator';
import { SharedUndeleteSteps, type SharedUndeleteRun } from './shared-undelete-steps';
import {
  undeleteSteps,
  type InstanceUndeletePlan,
  type SharedUndeletePlan,
  type UndeletePlan,
  type UndeleteStep,
} from './undelete-plan';

const SAGA = 'undelete' as const;
const DAY_MS = 86_400_000;
/** Secrets Manager's recovery window, in days: at least 7, at most 30. */
const RECOVERY_WINDOW_DAYS = { min: 7, max: 30 } as const;

export interface UndeleteSagaDeps {
  deps: StepDeps;
  changes: ChangeStore;
  dataSource: DataSource;
  /** Where a schema or pool tenant's undelete reserves its place (on the change, as a move does). */
  allocator: Pick<HostAllocator, 'reserveForChange'>;
}

interface UndeleteRun<P extends UndeletePlan = UndeletePlan> {
  change: TenantChangeEntity;
  plan: P;
  deps: StepDeps;
  step: StepRun;
}

const isShared = (run: UndeleteRun): run is UndeleteRun<SharedUndeletePlan> =>
  run.plan.placement !== 'instance';
const asInstance = (run: UndeleteRun): UndeleteRun<InstanceUndeletePlan> => {
  if (isShared(run)) throw new Error(`an instance step of a ${run.plan.placement} tenant's undelete`);
  return run as UndeleteRun<InstanceUndeletePlan>;
};

/**
 * Brings a DELETED tenant back, same id and slug (design: docs/restores.md, "Undelete"). An
 * instance tenant:
 * its two secrets restored (RestoreSecret: the same credentials, never new ones), its final
 * snapshot restored into its own instance name with the tier's settings (the local backend
 * restores the snapshot's dump), the master password and app logins converged to the restored
 * secrets, the connection published, migrations brought to the newest, alarms made again, and in
 * one transaction ACTIVE. The tenant is DELETED until then: the data plane, the other sagas and
 * the reconciler see a deleted tenant with a change open (the reconciler does not count what the
 * undelete restores as orphans). A failure removes what the undelete made, schedules the secrets'
 * deletion again and leaves the tenant DELETED with the reason on its change.
 *
 * A schema or pool tenant (SharedUndeleteSteps): its app secret restored (a schema tenant's; a
 * pooled tenant has none), a place reserved on a host of its tier, its S3 export put back there in
 * one transaction, its role and login, its migrations, and ACTIVE on that host. A failure removes
 * what the import put on the host and re-schedules the secret's deletion.
 */
export class UndeleteSaga {
  private readonly shared: SharedUndeleteSteps;

  constructor(
    private readonly r: UndeleteSagaDeps,
    private readonly log: SagaLog,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.shared = new SharedUndeleteSteps(r.allocator, r.changes, log);
  }

  async run(tenantId: string, ctx: SagaContext): Promise<SagaOutcome> {
    return passUnderTenantLock(this.r.deps, tenantId, () => this.pass(tenantId, ctx));
  }

  private async pass(tenantId: string, ctx: SagaContext): Promise<SagaOutcome> {
    const { deps, changes } = this.r;
    const tenant = await deps.store.getTenant(tenantId);
    const change = tenant ? await changes.current(tenantId) : null;
    if (!tenant || !change || change.kind !== 'undelete' || !OPEN_CHANGE_STATUSES.includes(change.status))
      return { kind: 'finished', status: tenant?.status ?? 'MISSING' };
    const plan = change.plan as unknown as UndeletePlan;
    const regional = stepDepsInRegion(deps, plan.region);
    const run: UndeleteRun = {
      change,
      plan,
      deps: regional,
      step: {
        tenant,
        names: tenantResourceNames(regional.settings.prefix, tenant.slug),
        profile: regional.settings.tiers[tenant.tier],
        tags: tenantTags(tenant, regional.settings.environment),
        ctx,
        secretValues: new Map(),
      },
    };
    if (tenant.status !== 'DELETED') {
      // Nothing else moves a DELETED tenant; one that is not DELETED any more is not this undelete's.
      await changes.abandon(change, tenant.status, 'undelete', undeleteSteps(plan)[0], ctx);
      return { kind: 'finished', status: tenant.status };
    }
    const failing = failingOf(change);
    if (failing) return this.compensate(run, failing);
    const outcome = await runChangeSteps<UndeleteStep>({
      deps,
      saga: SAGA,
      tenantId,
      status: tenant.status,
      ctx,
      log: this.log,
      now: this.now,
      steps: undeleteSteps(plan),
      step: (name, position, journal, attempts) => this.step(run, name, position, journal, attempts),
      fail: (step, _position, error) => this.failed(run, step, error),
    });
    if (outcome.kind !== 'finished') return outcome;
    return { kind: 'finished', status: (await deps.store.getTenant(tenantId))?.status ?? 'MISSING' };
  }

  private step(
    run: UndeleteRun,
    step: UndeleteStep,
    position: number,
    journal: StepJournal,
    attempts: number,
  ): Promise<ChangeStepResult> {
    if (step === 'restore-secrets') return this.restoreSecrets(run);
    if (isShared(run)) {
      const shared: SharedUndeleteRun = {
        ...run,
        change: { tenantId: run.change.tenantId, run: run.change.run },
      };
      switch (step) {
        case 'place':
          return this.shared.place(shared);
        case 'wait-host':
          return this.shared.waitHost(shared);
        case 'import-data':
          return this.shared.importData(shared);
        case 'bootstrap-database':
          return this.shared.bootstrapDatabase(shared);
        case 'run-migrations':
          return this.shared.runMigrations(shared);
        case 'activate':
          return this.activateShared(run, shared, journal.completion(step, position, attempts));
        default:
          throw new Error(`${step} is not a step of a ${run.plan.placement} tenant's undelete`);
      }
    }
    const instance = asInstance(run);
    switch (step) {
      case 'restore-instance':
        return this.restoreInstance(instance);
      case 'restore-available':
        return this.restoreAvailable(instance);
      case 'publish-connection':
        return this.publishConnection(instance);
      case 'app-logins':
        return this.appLogins(instance);
      case 'run-migrations':
        return this.runMigrations(instance);
      case 'create-alarms':
        return this.createAlarms(instance);
      case 'activate':
        return this.activate(instance, journal.completion(step, position, attempts));
      default:
        throw new Error(`${step} is not a step of an instance tenant's undelete`);
    }
  }

  /**
   * RestoreSecret of the master and the app secret: their values are what the tenant's
   * application and instance had at the deletion. A secret gone for good (its window ended) or
   * tagged for another tenant fails the undelete: it never makes new credentials.
   */
  private async restoreSecrets(run: UndeleteRun): Promise<ChangeStepResult> {
    const { deps, plan, step } = run;
    const restored: string[] = [];
    for (const { name } of plan.secrets) {
      const outcome = await deps.secrets.restore(name, step.tenant.id);
      if (outcome === 'gone')
        throw new ProvisioningError(
          ProvisioningErrorCode.AWS_REJECTED,
          `secret ${name} is deleted for good (its recovery window ended): the tenant's credentials cannot be restored`,
        );
      if (outcome === 'not-ours')
        throw new ProvisioningError(
          ProvisioningErrorCode.RESOURCE_NAME_TAKEN,
          `secret ${name} is tagged for another tenant; it was left untouched`,
        );
      if (outcome === 'restored') restored.push(name);
    }
    for (const { name } of plan.secrets) await this.login(run, name);
    return { kind: 'done', data: { restored } };
  }

  /**
   * RestoreDBInstanceFromDBSnapshot of the final snapshot into the tenant's own instance name,
   * with its tier's class, storage, Multi-AZ and backups, Silo's parameter group, subnet and
   * security groups and the tenant's tags. Deletion protection comes at activation, so that a
   * failure before then can remove the instance.
   */
  private async restoreInstance(run: UndeleteRun<InstanceUndeletePlan>): Promise<ChangeStepResult> {
    const { deps, plan, step } = run;
    const { profile, tenant } = step;
    const outcome = await deps.rds.restoreFromSnapshot({
      snapshotIdentifier: plan.finalSnapshot,
      ownerTenantId: tenant.id,
      target: {
        identifier: plan.instanceIdentifier,
        engineVersion: profile.engineVersion,
        instanceClass: profile.instanceClass,
        storage: profile.storage,
        multiAz: profile.multiAz,
        deletionProtection: false,
        backupRetentionDays: profile.backupRetentionDays,
        subnetGroupName: deps.settings.subnetGroup,
        securityGroupIds: deps.settings.securityGroupIds,
        parameterGroupName: parameterGroupName(deps.settings.prefix, profile.engineVersion),
        tags: step.tags,
      },
    });
    await deps.store.updateDatabaseFacts(tenant.id, {
      instanceIdentifier: plan.instanceIdentifier,
      instanceClass: profile.instanceClass,
      engine: 'postgres',
      engineVersion: profile.engineVersion,
      multiAz: profile.multiAz,
      storageEncrypted: true,
      endpointHost: null,
      endpointPort: null,
    });
    return {
      kind: 'done',
      data: { instance: plan.instanceIdentifier, snapshot: plan.finalSnapshot, outcome },
    };
  }

  /**
   * Once RDS says the instance is available: the backend holds the snapshot's data (the local
   * backend restores its dump now) and the master user gets the restored master secret's password.
   */
  private async restoreAvailable(run: UndeleteRun<InstanceUndeletePlan>): Promise<ChangeStepResult> {
    const { deps, plan } = run;
    const found = await whenAvailable(deps.rds, plan.instanceIdentifier);
    if (found.kind === 'wait') return found;
    const master = await this.login(run, run.step.names.masterSecretName);
    await deps.host.restore({
      identifier: plan.instanceIdentifier,
      masterUsername: master.username,
      masterPassword: master.password,
      from: { snapshotIdentifier: plan.finalSnapshot },
    });
    await deps.host.setMasterPassword({
      identifier: plan.instanceIdentifier,
      masterUsername: master.username,
      password: master.password,
    });
    return { kind: 'done', data: { instance: plan.instanceIdentifier } };
  }

  /** The master secret's connection (provisioning's publish-connection), and the app secret's where it is stale. */
  private async publishConnection(run: UndeleteRun<InstanceUndeletePlan>): Promise<ChangeStepResult> {
    const { deps, plan, step } = run;
    const completion = this.noCompletion();
    await new ProvisioningSteps(deps, this.log).run('publish-connection', step, completion);
    const endpoint = await publishedEndpoint(deps.rds, deps.host, plan.instanceIdentifier);
    const app = await this.login(run, step.names.appSecretName);
    const fields = connectionFields(endpoint, plan.instanceIdentifier);
    if (Object.entries(fields).some(([key, value]) => app.secret[key] !== value))
      await deps.secrets.write(step.names.appSecretName, { ...app.secret, ...fields });
    return { kind: 'done', data: { host: endpoint.host, port: endpoint.port, database: endpoint.database } };
  }

  /**
   * The app role and the app secret's login converge to the restored app secret (RDS restored
   * them with those passwords already; the local backend restores no roles or grants), so the
   * tenant's application opens its database with the credentials it had. On RDS the master
   * password set before is applied in the background: the step waits until it opens the instance.
   */
  private async appLogins(run: UndeleteRun<InstanceUndeletePlan>): Promise<ChangeStepResult> {
    const { deps, plan, step } = run;
    if (deps.host.kind === 'rds') {
      const view = await deps.rds.describe(plan.instanceIdentifier);
      if (view && view.status !== 'available') return { kind: 'wait', reason: `instance is ${view.status}` };
    }
    const endpoint = await publishedEndpoint(deps.rds, deps.host, plan.instanceIdentifier);
    const owner = await this.owner(run);
    await checkLoginRetryable(deps.admin, endpoint, owner);
    // Read first: bootstrapTenantApp writes an app secret only where there is none, and an
    // undelete never makes one.
    const app = await this.login(run, step.names.appSecretName);
    await bootstrapTenantApp(deps, step, {
      endpoint,
      owner,
      connection: connectionFields(endpoint, plan.instanceIdentifier),
      schema: APP_SCHEMA,
      log: this.log,
    });
    return { kind: 'done', data: { login: app.username } };
  }

  /** The snapshot's schema brought to the newest version, as provisioning does. */
  private async runMigrations(run: UndeleteRun<InstanceUndeletePlan>): Promise<ChangeStepResult> {
    const { deps, plan, step } = run;
    const endpoint = await publishedEndpoint(deps.rds, deps.host, plan.instanceIdentifier);
    const result = await migrateForProvisioning(deps, endpoint, await this.owner(run), step.tenant.slug, {
      placement: 'instance',
      schema: APP_SCHEMA,
      tenantId: step.tenant.id,
    });
    await deps.store.updateDatabaseFacts(step.tenant.id, { schemaVersion: result.schemaVersion });
    return { kind: 'done', data: { schemaVersion: result.schemaVersion } };
  }

  private async createAlarms(run: UndeleteRun): Promise<ChangeStepResult> {
    await new ProvisioningSteps(run.deps, this.log).run('create-alarms', run.step, this.noCompletion());
    return { kind: 'done' };
  }

  /**
   * The tier's deletion protection and Performance Insights (a restore takes neither), then in one
   * transaction: DELETED → ACTIVE with the instance's facts, a new route version (a router
   * holding anything of the tenant's earlier life lets it go) and a new provisioning run (a later
   * deletion journals its steps and names its job afresh, not as the earlier deletion's, all
   * done), the change SUCCEEDED, this step done and the events.
   */
  private async activate(
    run: UndeleteRun<InstanceUndeletePlan>,
    completion: StepCompletion,
  ): Promise<ChangeStepResult> {
    const { deps, plan, step } = run;
    const { profile, tenant } = step;
    const view = await deps.rds.describe(plan.instanceIdentifier);
    if (!view)
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `${tenant.slug}'s restored instance ${plan.instanceIdentifier} is gone`,
      );
    const wantsProtection = profile.deletionProtection && !view.deletionProtection;
    const wantsInsights = profile.performanceInsights.enabled && view.performanceInsights?.enabled !== true;
    if (wantsProtection || wantsInsights)
      await deps.rds.modify(
        plan.instanceIdentifier,
        {
          ...(wantsProtection && { deletionProtection: true }),
          ...(wantsInsights && { performanceInsights: profile.performanceInsights }),
        },
        { applyImmediately: true, kmsKeyId: deps.settings.kmsKeyId },
      );
    await this.recordActive(run, completion, {
      set: 'db_instance_class = $2, db_engine_version = $3, db_multi_az = $4',
      params: [view.instanceClass, view.engineVersion, view.multiAz],
      message: `restored from its final snapshot ${plan.finalSnapshot} with its own credentials`,
      data: { finalSnapshot: plan.finalSnapshot, instance: plan.instanceIdentifier },
    });
    return { kind: 'done', recorded: true };
  }

  /**
   * A schema or pool tenant's activation: in one transaction, DELETED → ACTIVE on its reserved
   * host (its place is the tenant's now, no longer the change's), the host not empty any more,
   * as for an instance tenant otherwise.
   */
  private async activateShared(
    run: UndeleteRun<SharedUndeletePlan>,
    shared: SharedUndeleteRun,
    completion: StepCompletion,
  ): Promise<ChangeStepResult> {
    const hostId = await this.shared.reservedHostId(shared);
    if (!hostId)
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `${run.step.tenant.slug}'s undelete has no host reserved`,
      );
    const { plan } = run;
    await this.recordActive(run, completion, {
      set: 'host_id = $2',
      params: [hostId],
      also: (em) =>
        em.query(
          `UPDATE hosts SET empty_since = NULL, updated_at = now() WHERE id = $1 AND empty_since IS NOT NULL`,
          [hostId],
        ),
      message: `restored from its export ${plan.export.key}${plan.secrets.length ? ' with its own credentials' : ''}`,
      data: { export: plan.export.key, hostId },
    });
    return { kind: 'done', recorded: true };
  }

  /**
   * In one transaction: DELETED → ACTIVE with `spec.set` (its parameters from $2), a new route
   * version (a router holding anything of the tenant's earlier life lets it go) and a new
   * provisioning run (a later deletion journals its steps and names its job afresh, not as the
   * earlier deletion's, all done), the change SUCCEEDED, this step done and the events.
   */
  private async recordActive(
    run: UndeleteRun,
    completion: StepCompletion,
    spec: {
      set: string;
      params: unknown[];
      also?: (em: EntityManager) => Promise<unknown>;
      message: string;
      data: Record<string, unknown>;
    },
  ): Promise<void> {
    const { step, change } = run;
    const { tenant, ctx } = step;
    transition(tenant.status, 'ACTIVE');
    await this.r.dataSource.transaction(async (em) => {
      const [, activated] = await em.query<[unknown, number]>(
        `UPDATE tenants SET status = 'ACTIVE', ${spec.set},
                route_version = route_version + 1, provisioning_run = provisioning_run + 1,
                failure_code = NULL, failure_message = NULL, failure_step = NULL,
                updated_at = now(), version = version + 1
          WHERE id = $1 AND status = 'DELETED'`,
        [tenant.id, ...spec.params],
      );
      if (activated !== 1) throw new Error(`tenant ${tenant.id} is no longer DELETED`);
      const [, succeeded] = await em.query<[unknown, number]>(
        `UPDATE tenant_changes SET status = 'SUCCEEDED', finished_at = now(), updated_at = now()
          WHERE tenant_id = $1 AND run = $2 AND status IN ('RUNNING', 'PENDING_MAINTENANCE')`,
        [tenant.id, change.run],
      );
      if (succeeded !== 1) throw new Error(`change ${change.run} of tenant ${tenant.id} is no longer open`);
      await spec.also?.(em);
      await em.getRepository(ProvisioningStepEntity).save({
        tenantId: tenant.id,
        saga: completion.saga,
        run: change.run,
        step: completion.name,
        position: completion.position,
        ...stepDonePatch(completion.finishedAt),
        updatedAt: new Date(),
      });
      await appendTenantEvent(em, tenant.id, completion.event, ctx);
      await appendTenantEvent(
        em,
        tenant.id,
        {
          type: 'tenant.undeleted',
          message: `tenant ${tenant.slug} is ACTIVE again, ${spec.message}`,
          data: { run: change.run, placement: run.plan.placement, ...spec.data },
        },
        ctx,
      );
    });
  }

  /** For a provisioning step run here that records nothing itself (publish-connection, create-alarms). */
  private noCompletion(): StepCompletion {
    return {
      saga: SAGA,
      name: 'unused',
      position: -1,
      finishedAt: this.now(),
      event: { type: 'step.completed', message: 'unused' },
    };
  }

  private async failed(run: UndeleteRun, step: UndeleteStep, error: ProvisioningError): Promise<SagaOutcome> {
    const why = { code: error.code, message: error.message, step };
    await this.r.changes.mergePlan(run.change, { failing: why });
    return this.compensate(run, why);
  }

  /**
   * A failure: the alarms and the restored instance go (no final snapshot: the deletion's is still
   * there), or what a shared tenant's import put on its host; its reserved place ends with the
   * change. The secrets are scheduled for deletion again with what was left of their recovery
   * window (7 days at least, Secrets Manager's minimum), and the change ends FAILED with the
   * reason. The tenant stays DELETED. Each part is idempotent: a pass after a crash carries on.
   */
  private async compensate(run: UndeleteRun, failing: ChangeFailure): Promise<SagaOutcome> {
    const { deps, plan, step, change } = run;
    const { tenant, ctx } = step;
    if (isShared(run))
      await this.shared.removeFromHost({ ...run, change: { tenantId: change.tenantId, run: change.run } });
    else {
      const removed = await this.removeInstance(asInstance(run));
      if (removed) return removed;
    }
    for (const secret of plan.secrets) {
      const left = secret.deletionDate
        ? Math.ceil((new Date(secret.deletionDate).getTime() - this.now().getTime()) / DAY_MS)
        : deps.settings.secretRecoveryWindowDays;
      const days = Math.min(RECOVERY_WINDOW_DAYS.max, Math.max(RECOVERY_WINDOW_DAYS.min, left));
      await deps.secrets.delete(secret.name, { recoveryWindowDays: days }, tenant.id);
    }
    await this.r.changes.fail(
      change,
      failing,
      {
        type: 'tenant.change_failed',
        message: `undelete of ${tenant.slug} failed at ${failing.step}: ${failing.message}; what it made is removed, the tenant stays DELETED`,
        data: { run: change.run, kind: 'undelete', code: failing.code, step: failing.step },
      },
      ctx,
    );
    return { kind: 'finished', status: tenant.status };
  }

  /** An instance undelete's part: its alarms and its restored instance (tagged as the tenant's) go; a delay while RDS deletes it. */
  private async removeInstance(run: UndeleteRun<InstanceUndeletePlan>): Promise<SagaOutcome | null> {
    const { deps, plan, step } = run;
    const { names, tenant } = step;
    await deps.alarms.delete(ALARM_METRICS.map((m) => names.alarmName(m)));
    // Only an instance tagged as this tenant's is removed (the name may be someone else's: then the restore never made it).
    const existing = await deps.rds.describe(plan.instanceIdentifier);
    if (existing && existing.tags['silo:tenant-id'] === tenant.id) {
      if (existing.deletionProtection)
        await deps.rds.modify(
          plan.instanceIdentifier,
          { deletionProtection: false },
          { applyImmediately: true },
        );
      const removed = await removeInstanceWithoutSnapshot(deps, {
        identifier: plan.instanceIdentifier,
        ownerTenantId: tenant.id,
        roles: [...appLoginRoles(names.appRole), names.appRole, names.masterUsername],
      });
      if (removed.kind !== 'removed') return { kind: 'delay', delayMs: 5_000, reason: removed.reason };
    }
    return null;
  }

  private async owner(run: UndeleteRun): Promise<{ username: string; password: string }> {
    const { username, password } = await this.login(run, run.step.names.masterSecretName);
    return { username, password };
  }

  /** A login from its (restored) secret, read at most once per pass. */
  private async login(
    run: UndeleteRun,
    name: string,
  ): Promise<{ username: string; password: string; secret: SecretJson }> {
    const values = run.step.secretValues;
    let secret = values.get(name) ?? null;
    if (!secret) {
      secret = await run.deps.secrets.read(name);
      if (secret) values.set(name, secret);
    }
    const { username, password } = secret ?? {};
    if (typeof username !== 'string' || typeof password !== 'string' || !password || !secret)
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `secret ${name} is missing or has no username and password`,
      );
    return { username, password, secret };
  }
}
