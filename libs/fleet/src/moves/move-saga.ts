import type { SecretJson } from '@silo/aws';
import type { TenantChangeEntity } from '@silo/control-plane-db';
import {
  APP_SCHEMA,
  failpoint,
  ProvisioningError,
  ProvisioningErrorCode,
  tenantResourceNames,
  tenantTags,
  type TenantResourceNames,
} from '@silo/core';
import {
  abortTenantCopy,
  appLoginRoles,
  copyProgress,
  cutOverCopy,
  isTenantFrozen,
  startTenantCopy,
  TenantCopyError,
  type CopySide,
  type TenantCopyPlan,
} from '@silo/tenant-schema';
import type { DataSource } from 'typeorm';
import { removeInstanceWithoutSnapshot } from '../backends/instance-lifecycle';
import type { TenantDatabaseEndpoint } from '../backends/tenant-database-host';
import { pgEndpoint } from '../tenant-database-admin';
import {
  failingOf,
  openChangeFor,
  runChangeSteps,
  type ChangeFailure,
  type ChangeStepResult,
} from '../changes/change-steps';
import type { ChangeStore } from '../changes/change-store';
import { placementRequestOf, type HostAllocator } from '../hosts/host-allocator';
import { writeOutboxJob } from '../jobs/outbox';
import { REMOVE_MOVED_SOURCE_JOB, removeMovedSourceJobId } from '../jobs/provisioning-jobs';
import { SchemaPlacement } from '../placements/schema-placement';
import { SharedHostSteps } from '../placements/shared-host-steps';
import type { SagaOutcome } from '../saga/provisioning-saga';
import { ProvisioningSteps, type StepDeps, type StepRun } from '../saga/provisioning-steps';
import { stepDepsInRegion } from '../saga/regional-deps';
import { ALARM_METRICS } from '../saga/tenant-alarm-specs';
import { passUnderTenantLock } from '../saga/tenant-pass';
import type { StepJournal } from '../saga/step-journal';
import type {
  ProvisioningStore,
  SagaContext,
  SagaLog,
  StepCompletion,
  TenantDatabaseFacts,
  TenantRecord,
} from '../store/provisioning-store';
import { appendTenantEvent } from '../store/typeorm-provisioning-store';
import { isSharedTierProfile } from '../tiers';
import type { MovePlan } from './move-plan';
import { placeLabel } from './move-plan';
import { moveIdOf } from './moved-source-removal';
import { setWritesPaused, type RouteSignals } from './route-signals';
import { MOVE_APP_SECRET_SUFFIX } from './tenant-moves.service';

/** An instance target: the provisioning steps of an instance, made beside the live tenant. */
export const INSTANCE_TARGET_STEPS = [
  'target-credentials',
  'target-instance',
  'target-available',
  'target-connection',
  'target-database',
  'target-migrations',
  'target-alarms',
] as const;
/** A pool target: a place reserved on a pool host of the target's tier and region. */
export const POOL_TARGET_STEPS = ['target-place', 'target-host'] as const;
/**
 * A schema target: a place reserved on a schema host of the target's tier and region, the
 * tenant's schema and logins made there (its app secret as the provisioning steps make it), the
 * schema migrated to the tenant's version.
 */
export const SCHEMA_TARGET_STEPS = [
  'target-place',
  'target-host',
  'target-database',
  'target-migrations',
] as const;
export const COPY_STEPS = ['start-copy', 'wait-copy', 'cut-over', 'clean-up'] as const;
export type MoveStep =
  (typeof INSTANCE_TARGET_STEPS)[number] | (typeof POOL_TARGET_STEPS)[number] | (typeof COPY_STEPS)[number];

const SAGA = 'move' as const;
const COPY_POLL_MS = 1_000;

/** The provisioning step each instance-target step runs. */
const PROVISION_STEP_OF = {
  'target-credentials': 'prepare-credentials',
  'target-instance': 'create-instance',
  'target-available': 'wait-available',
  'target-connection': 'publish-connection',
  'target-database': 'bootstrap-database',
  'target-alarms': 'create-alarms',
} as const;

const TARGET_STEPS = {
  instance: INSTANCE_TARGET_STEPS,
  schema: SCHEMA_TARGET_STEPS,
  pool: POOL_TARGET_STEPS,
} as const;

export function moveSteps(plan: Pick<MovePlan, 'to'>): readonly MoveStep[] {
  return [...TARGET_STEPS[plan.to.placement], ...COPY_STEPS];
}

/** What the move saga needs besides the sagas' collaborators. */
export interface MoveSagaDeps {
  deps: StepDeps;
  changes: ChangeStore;
  signals: RouteSignals;
  allocator: Pick<HostAllocator, 'reserveForChange'>;
  dataSource: DataSource;
  /** MOVE_SOURCE_RETENTION_HOURS in ms: how long the source's data is kept after the switch. */
  sourceRetentionMs: number;
  /** How long the cut-over waits for the tenant's open writes on the source. */
  freezeTimeoutMs: number;
  /** How long the cut-over waits for the target to apply the source's last changes. */
  catchUpTimeoutMs: number;
}

interface MoveRun {
  tenant: TenantRecord;
  change: TenantChangeEntity;
  plan: MovePlan;
  names: TenantResourceNames;
  ctx: SagaContext;
  source: StepDeps;
  target: StepDeps;
  secretValues: Map<string, SecretJson>;
}

function movePlanOf(change: TenantChangeEntity): MovePlan {
  return change.plan as unknown as MovePlan;
}

const EMPTY_FACTS: TenantDatabaseFacts = {
  instanceIdentifier: null,
  instanceClass: null,
  engine: null,
  engineVersion: null,
  multiAz: null,
  storageEncrypted: null,
  endpointHost: null,
  endpointPort: null,
  databaseName: null,
  masterSecretArn: null,
  appSecretArn: null,
  schemaVersion: null,
};

/**
 * A move of a live tenant to another placement, region or both (design: docs/moves.md):
 * 1. prepare the target: an instance made with the provisioning steps under the target's names
 *    (their facts recorded on the move, not on the tenant), or a place reserved on a pool host;
 *    the tenant's schema at the tenant's own version;
 * 2. copy: logical replication from the source (startTenantCopy), waited for without sleeping;
 * 3. cut over: the tenant's writes paused (directory and route signal), the source frozen once
 *    the target has every acknowledged write and both agree (cutOverCopy), then the switch: the
 *    tenant's record names the target, its route version moves on, writes resume;
 * 4. clean up: the staging secret, the source's alarms; the source's data is removed by a job due
 *    MOVE_SOURCE_RETENTION_HOURS later.
 * Before the freeze, a failure (or an abort) removes the target and leaves the tenant serving
 * where it was. After it there is no way back but forward: the saga retries until it switches.
 */
export class MoveSaga {
  constructor(
    private readonly m: MoveSagaDeps,
    private readonly log: SagaLog,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async run(tenantId: string, ctx: SagaContext): Promise<SagaOutcome> {
    return passUnderTenantLock(this.m.deps, tenantId, () => this.pass(tenantId, ctx));
  }

  private async pass(tenantId: string, ctx: SagaContext): Promise<SagaOutcome> {
    const { deps, changes } = this.m;
    const found = await openChangeFor(
      deps,
      changes,
      tenantId,
      { kind: 'move', what: 'move', firstStep: 'prepare-target' },
      ctx,
    );
    if ('outcome' in found) return found.outcome;
    const { tenant, change } = found;
    const plan = movePlanOf(change);
    const run: MoveRun = {
      tenant,
      change,
      plan,
      names: tenantResourceNames(deps.settings.prefix, tenant.slug),
      ctx,
      source: stepDepsInRegion(deps, plan.from.region),
      target: stepDepsInRegion(deps, plan.to.region),
      secretValues: new Map(),
    };
    const failing = failingOf(change);
    if (failing) return this.compensate(run, failing);
    return runChangeSteps<MoveStep>({
      deps,
      saga: SAGA,
      tenantId,
      status: tenant.status,
      ctx,
      log: this.log,
      now: this.now,
      steps: moveSteps(plan),
      step: (name, position, journal, attempts) => this.step(run, name, position, journal, attempts),
      fail: (step, _position, error) => this.failed(run, step, error),
    });
  }

  private async step(
    run: MoveRun,
    step: MoveStep,
    position: number,
    journal: StepJournal,
    attempts: number,
  ): Promise<ChangeStepResult> {
    // An abort stops everything before the cut-over; once it has begun, the move goes on.
    const pre = step !== 'cut-over' && step !== 'clean-up';
    if (pre && run.plan.abortRequested)
      throw new ProvisioningError(
        ProvisioningErrorCode.MOVE_ABORTED,
        'the move was aborted before its cut-over',
      );
    switch (step) {
      case 'target-credentials':
      case 'target-instance':
      case 'target-available':
      case 'target-connection':
      case 'target-database':
      case 'target-alarms': {
        const target = this.targetRun(run);
        // Secrets of an earlier life of the tenant in this region (moved away, then back) may wait
        // out their recovery window: they are the tenant's, and come back rather than collide.
        if (step === 'target-credentials' || step === 'target-database') {
          const name =
            step === 'target-credentials'
              ? target.run.names.masterSecretName
              : target.run.names.appSecretName;
          await target.deps.secrets.restore(name, run.tenant.id);
        }
        const completion = journal.completion(step, position, attempts);
        // A schema target's schema and logins are made on its reserved host as provisioning makes them.
        const result =
          run.plan.to.placement === 'schema'
            ? await new SchemaPlacement(target.deps, this.log).provision(
                'bootstrap-database',
                target.run,
                completion,
              )
            : await new ProvisioningSteps(target.deps, this.log).run(
                PROVISION_STEP_OF[step],
                target.run,
                completion,
              );
        if (result.kind === 'wait') return result;
        return { kind: 'done' };
      }
      case 'target-migrations':
        return this.migrateTarget(run);
      case 'target-place':
        return this.reservePlace(run);
      case 'target-host':
        return this.waitTargetHost(run);
      case 'start-copy': {
        let started: { tables: string[] };
        try {
          started = await this.copy(run, (plan) => startTenantCopy(plan));
        } catch (error) {
          // Another move stages its schema in the same target database: this one waits its turn.
          const cause = error instanceof ProvisioningError ? error.cause : error;
          if (cause instanceof TenantCopyError && cause.code === 'target-busy')
            return { kind: 'wait', reason: cause.message, delayMs: COPY_POLL_MS * 2 };
          throw error;
        }
        const { tables } = started;
        await this.m.changes.mergePlan(run.change, { copyTables: tables });
        return { kind: 'done', data: { tables } };
      }
      case 'wait-copy': {
        const progress = await this.copy(run, (plan) => copyProgress(plan));
        if (progress.errors > 0)
          throw new ProvisioningError(
            ProvisioningErrorCode.MOVE_COPY_FAILED,
            `the target refused the tenant's rows ${progress.errors} times (the target server's log says why: a key it already holds, a constraint)`,
          );
        if (!progress.streaming)
          return {
            kind: 'wait',
            reason: `initial copy: ${progress.tablesCopied} of ${progress.tables} tables`,
            delayMs: COPY_POLL_MS,
          };
        return { kind: 'done', data: { tables: progress.tables, lagBytes: progress.lagBytes } };
      }
      case 'cut-over':
        return this.cutOver(run);
      case 'clean-up':
        return this.cleanUp(run, journal.completion(step, position, attempts));
    }
  }

  /**
   * The run and collaborators of a target's provisioning steps (an instance's, or a schema's on
   * its reserved host): the target's names, the tenant as it will be there, and a store whose
   * facts go on the move rather than on the tenant.
   */
  private targetRun(run: MoveRun): { deps: StepDeps; run: StepRun } {
    const { plan, tenant, names } = run;
    const changes = this.m.changes;
    const facts: TenantDatabaseFacts = {
      ...EMPTY_FACTS,
      ...(plan.targetFacts as Partial<TenantDatabaseFacts>),
    };
    const store: ProvisioningStore = Object.create(run.target.store, {
      updateDatabaseFacts: {
        value: async (_tenantId: string, patch: Partial<TenantDatabaseFacts>) => {
          Object.assign(facts, patch);
          plan.targetFacts = { ...plan.targetFacts, ...patch };
          await changes.mergePlan(run.change, { targetFacts: plan.targetFacts });
        },
      },
    }) as ProvisioningStore;
    const instance = plan.to.placement === 'instance';
    const targetNames: TenantResourceNames = {
      ...names,
      instanceIdentifier: plan.targetInstance ?? names.instanceIdentifier,
      appSecretName: plan.targetAppSecret ?? names.appSecretName,
      masterSecretName: plan.targetMasterSecret ?? names.masterSecretName,
    };
    const profile = run.target.settings.tiers[plan.to.tier];
    return {
      deps: { ...run.target, store },
      run: {
        tenant: {
          ...tenant,
          tier: plan.to.tier,
          placement: plan.to.placement,
          hostId: instance ? null : plan.to.hostId,
          region: plan.to.region,
          database: facts,
        },
        names: targetNames,
        profile,
        tags: tenantTags({ ...tenant, tier: plan.to.tier }, run.target.settings.environment),
        ctx: run.ctx,
        secretValues: run.secretValues,
      },
    };
  }

  /** The tenant schema in the target (instance or schema host) at the tenant's own version, not the newest. */
  private async migrateTarget(run: MoveRun): Promise<ChangeStepResult> {
    const target = this.targetRun(run);
    const version = run.tenant.database.schemaVersion;
    if (!version)
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `${run.tenant.slug} has no schema version`,
      );
    let endpoint: TenantDatabaseEndpoint;
    let owner: { username: string; password: string };
    if (run.plan.to.placement === 'schema') {
      ({ endpoint, owner } = await new SharedHostSteps(target.deps, 'schema').hostAccess(target.run));
    } else {
      const steps = new ProvisioningSteps(target.deps, this.log);
      endpoint = steps.endpoint(target.run.tenant, target.run.names);
      owner = await steps.owner(target.run);
    }
    const schema = run.plan.to.placement === 'schema' ? run.names.tenantSchema : APP_SCHEMA;
    const result = await target.deps.admin.runMigrations(endpoint, owner, target.deps.settings.migrations, {
      ...target.deps.settings.migrationTimeouts,
      target: version,
      appliedBy: `move:${run.change.run}`,
      tenant: run.tenant.slug,
      into: {
        placement: run.plan.to.placement === 'schema' ? 'schema' : 'instance',
        schema,
        tenantId: run.tenant.id,
      },
    });
    return { kind: 'done', data: { schemaVersion: result.schemaVersion } };
  }

  private async reservePlace(run: MoveRun): Promise<ChangeStepResult> {
    const profile = run.target.settings.tiers[run.plan.to.tier];
    if (!isSharedTierProfile(profile))
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `tier ${profile.tier} places no tenant on hosts`,
      );
    const { host, hostCreated } = await this.m.allocator.reserveForChange(
      { tenantId: run.tenant.id, run: run.change.run },
      placementRequestOf(profile),
      run.plan.to.region,
    );
    run.plan.to.hostId = host.id;
    return { kind: 'done', data: { host: host.name, hostCreated } };
  }

  private async waitTargetHost(run: MoveRun): Promise<ChangeStepResult> {
    const host = run.plan.to.hostId ? await run.target.hosts.host(run.plan.to.hostId) : null;
    if (!host)
      throw new ProvisioningError(ProvisioningErrorCode.INCONSISTENT_STATE, 'the move reserved no host');
    if (host.status === 'creating') return { kind: 'wait', reason: `host ${host.name} is being created` };
    if (host.status !== 'available')
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `host ${host.name} is ${host.status}`,
      );
    // A pool's tables are its tenants' together, at one version; a schema host's tenants each have their own.
    if (run.plan.to.placement === 'pool' && host.schemaVersion !== run.tenant.database.schemaVersion)
      throw new ProvisioningError(
        ProvisioningErrorCode.MOVE_COPY_FAILED,
        `the pool on host ${host.name} is at schema version ${host.schemaVersion ?? 'none'} and the tenant at ` +
          `${run.tenant.database.schemaVersion ?? 'none'}: roll the two to one version, then move`,
      );
    return { kind: 'done', data: { host: host.name } };
  }

  /** Runs `work` with the copy's plan: both sides reached as the role that may replicate. */
  private async copy<T>(run: MoveRun, work: (plan: TenantCopyPlan) => Promise<T>): Promise<T> {
    const plan: TenantCopyPlan = {
      moveId: this.moveId(run),
      tenantId: run.tenant.id,
      source: await this.sourceSide(run),
      target: await this.targetSide(run),
    };
    try {
      return await work(plan);
    } catch (error) {
      throw this.classifyCopyError(error);
    }
  }

  private classifyCopyError(error: unknown): unknown {
    if (error instanceof ProvisioningError) return error;
    if (error instanceof TenantCopyError) {
      if (error.code === 'freeze-timeout' || error.code === 'catch-up-timeout')
        return new ProvisioningError(ProvisioningErrorCode.MOVE_CUTOVER_BUSY, error.message, {
          cause: error,
        });
      return new ProvisioningError(ProvisioningErrorCode.MOVE_COPY_FAILED, error.message, { cause: error });
    }
    const code = (error as { code?: string }).code;
    if (typeof code === 'string' && /^(08|57P|53|55P03|40)/.test(code))
      return new ProvisioningError(ProvisioningErrorCode.DATABASE_UNAVAILABLE, (error as Error).message, {
        cause: error,
      });
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code))
      return new ProvisioningError(ProvisioningErrorCode.DATABASE_REJECTED, (error as Error).message, {
        cause: error,
      });
    if (error instanceof Error && /ECONNREFUSED|ETIMEDOUT|ECONNRESET|timeout/i.test(error.message))
      return new ProvisioningError(ProvisioningErrorCode.DATABASE_UNAVAILABLE, error.message, {
        cause: error,
      });
    return error;
  }

  /** A stable uuid per tenant and move, for the replication objects' names. */
  private moveId(run: MoveRun): string {
    return moveIdOf(run.tenant.id, run.change.run);
  }

  private async sourceSide(run: MoveRun): Promise<CopySide> {
    const { tenant, names, source } = run;
    if (tenant.placement === 'instance') {
      const { instanceIdentifier, endpointHost, endpointPort } = tenant.database;
      if (!instanceIdentifier)
        throw new ProvisioningError(
          ProvisioningErrorCode.INCONSISTENT_STATE,
          `${tenant.slug} has no instance recorded`,
        );
      const endpoint = source.host.endpointOf({
        identifier: instanceIdentifier,
        rdsEndpoint: endpointHost && endpointPort ? { host: endpointHost, port: endpointPort } : null,
      });
      const master =
        source.host.replicationLogin(instanceIdentifier) ??
        (await this.login(source, names.masterSecretName, run));
      return { endpoint: pgEndpoint(endpoint, master), placement: 'instance', schema: APP_SCHEMA };
    }
    const access = await new SharedHostSteps(source, tenant.placement).hostAccess(this.stepRun(run, tenant));
    const login = source.host.replicationLogin(access.host.instanceIdentifier);
    return {
      endpoint: pgEndpoint(access.endpoint, login ?? access.owner),
      placement: tenant.placement,
      schema: tenant.placement === 'schema' ? names.tenantSchema : APP_SCHEMA,
    };
  }

  private async targetSide(run: MoveRun): Promise<CopySide> {
    const { plan, target, tenant } = run;
    if (plan.to.placement === 'instance') {
      const t = this.targetRun(run);
      const login = target.host.replicationLogin(t.run.names.instanceIdentifier);
      const endpoint = new ProvisioningSteps(t.deps).endpoint(t.run.tenant, t.run.names);
      const master = login ?? (await this.login(target, t.run.names.masterSecretName, run));
      return { endpoint: pgEndpoint(endpoint, master), placement: 'instance', schema: APP_SCHEMA };
    }
    const placement = plan.to.placement;
    const access = await new SharedHostSteps(target, placement).hostAccess(
      this.stepRun(run, { ...tenant, placement, hostId: plan.to.hostId }),
    );
    const login = target.host.replicationLogin(access.host.instanceIdentifier);
    return {
      endpoint: pgEndpoint(access.endpoint, login ?? access.owner),
      placement,
      schema: placement === 'schema' ? run.names.tenantSchema : APP_SCHEMA,
    };
  }

  private stepRun(run: MoveRun, tenant: TenantRecord): StepRun {
    return {
      tenant,
      names: run.names,
      profile: run.source.settings.tiers[tenant.tier],
      tags: {},
      ctx: run.ctx,
      secretValues: run.secretValues,
    };
  }

  private async login(
    deps: StepDeps,
    secretName: string,
    run: MoveRun,
  ): Promise<{ username: string; password: string }> {
    let secret = run.secretValues.get(`${deps.settings.region}:${secretName}`) ?? null;
    if (!secret) {
      secret = await deps.secrets.read(secretName);
      if (secret) run.secretValues.set(`${deps.settings.region}:${secretName}`, secret);
    }
    const { username, password } = secret ?? {};
    if (typeof username !== 'string' || typeof password !== 'string' || !password)
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `secret ${secretName} is missing or has no username and password`,
      );
    return { username, password };
  }

  /** Pauses, freezes, switches and resumes; run again after a crash at any point, it carries on. */
  private async cutOver(run: MoveRun): Promise<ChangeStepResult> {
    const { tenant } = run;
    const recorded = run.change.plan as { switched?: boolean; cutOver?: MovePlan['cutOver'] };
    if (recorded.switched) return { kind: 'done', data: { ...recorded.cutOver } };
    await this.setPaused(tenant.id, true);
    const started = performance.now();
    let result;
    try {
      result = await this.copy(run, (copyPlan) =>
        cutOverCopy(copyPlan, {
          tables: (run.change.plan as { copyTables?: string[] }).copyTables ?? [],
          freezeTimeoutMs: this.m.freezeTimeoutMs,
          catchUpTimeoutMs: this.m.catchUpTimeoutMs,
        }),
      );
    } catch (error) {
      // Not frozen: the source serves again as it was, and the copy keeps streaming.
      if (!(await this.frozen(run))) await this.setPaused(tenant.id, false);
      throw error;
    }
    failpoint('move:frozen');
    await this.promoteAppSecret(run);
    const cutOver = {
      frozenForMs: Math.round(result.frozenForMs),
      pausedForMs: Math.round(performance.now() - started),
      tables: result.tables.map((t) => ({ table: t.table, rows: t.rows })),
    };
    const routeVersion = await this.switchRoute(run, cutOver);
    await this.m.signals.publish({ tenantId: tenant.id, routeVersion, writesPaused: false });
    return { kind: 'done', data: { ...cutOver, routeVersion } };
  }

  /** Whether this move has frozen the tenant on its source (the point of no return). */
  private async frozen(run: MoveRun): Promise<boolean> {
    try {
      return await this.copy(run, (copyPlan) => isTenantFrozen(copyPlan));
    } catch {
      return false;
    }
  }

  private setPaused(tenantId: string, paused: boolean): Promise<boolean> {
    return setWritesPaused(this.m.dataSource, this.m.signals, tenantId, paused);
  }

  /**
   * Where the source had an app secret of the tenant's own in the target's region, the target's
   * login waited in `<prefix>/<slug>/app-move`: its value goes into the tenant's own secret now,
   * the name the data plane reads. Idempotent.
   */
  private async promoteAppSecret(run: MoveRun): Promise<void> {
    const staging = run.plan.targetAppSecret;
    if (!staging || !staging.endsWith(MOVE_APP_SECRET_SUFFIX)) return;
    const value = await run.target.secrets.read(staging);
    if (!value) {
      // Promoted before a crash, and the staging secret already removed by clean-up: nothing to do.
      const own = await run.target.secrets.read(run.names.appSecretName);
      if (own?.dbInstanceIdentifier === run.plan.targetInstance) return;
      throw new ProvisioningError(ProvisioningErrorCode.INCONSISTENT_STATE, `secret ${staging} is missing`);
    }
    await run.target.secrets.write(run.names.appSecretName, value);
  }

  /**
   * The switch, in one control-plane transaction: the tenant's record names the target (its
   * placement, host, region, tier, instance facts and secrets), its route version moves on and
   * its writes resume; the move's figures and the source's removal date go on the change, and the
   * step is done. Returns the new route version.
   */
  private async switchRoute(run: MoveRun, cutOver: NonNullable<MovePlan['cutOver']>): Promise<number> {
    const { tenant, plan, change, ctx } = run;
    const facts = plan.targetFacts as Partial<TenantDatabaseFacts>;
    const instance = plan.to.placement === 'instance';
    const dueAt = new Date(this.now().getTime() + this.m.sourceRetentionMs).toISOString();
    // A promoted app secret is the tenant's own (same name, same region): its ARN does not change.
    // A pooled tenant has none: it reaches its rows through its host's.
    const appArn =
      plan.to.placement === 'pool'
        ? null
        : plan.targetAppSecret?.endsWith(MOVE_APP_SECRET_SUFFIX)
          ? tenant.database.appSecretArn
          : (facts.appSecretArn ?? null);
    const routeVersion = await this.m.dataSource.transaction(async (em) => {
      const [[row]] = await em.query<[Array<{ route_version: number }>, number]>(
        `UPDATE tenants SET
            placement = $2, host_id = $3, region = $4, tier = $5,
            db_instance_identifier = $6, db_instance_class = $7, db_engine = $8, db_engine_version = $9,
            db_multi_az = $10, db_storage_encrypted = $11, db_endpoint_host = $12, db_endpoint_port = $13,
            db_name = $14, master_secret_arn = $15, app_secret_arn = $16,
            route_version = route_version + 1, writes_paused_at = NULL, updated_at = now(), version = version + 1
          WHERE id = $1 RETURNING route_version`,
        [
          tenant.id,
          plan.to.placement,
          instance ? null : plan.to.hostId,
          plan.to.region,
          plan.to.tier,
          instance ? (facts.instanceIdentifier ?? plan.targetInstance) : null,
          instance ? (facts.instanceClass ?? null) : null,
          instance ? (facts.engine ?? 'postgres') : null,
          instance ? (facts.engineVersion ?? null) : null,
          instance ? (facts.multiAz ?? null) : null,
          instance ? (facts.storageEncrypted ?? true) : null,
          instance ? (facts.endpointHost ?? null) : null,
          instance ? (facts.endpointPort ?? null) : null,
          instance ? (facts.databaseName ?? null) : null,
          instance ? (facts.masterSecretArn ?? null) : null,
          appArn,
        ],
      );
      await em.query(
        `UPDATE tenant_changes SET plan = plan || $3::jsonb, updated_at = now() WHERE tenant_id = $1 AND run = $2`,
        [tenant.id, change.run, JSON.stringify({ cutOver, sourceRemovalDueAt: dueAt, switched: true })],
      );
      await appendTenantEvent(
        em,
        tenant.id,
        {
          type: 'tenant.moved',
          message: `moved ${placeLabel(plan.from)} → ${placeLabel(plan.to)}: writes paused ${cutOver.pausedForMs} ms`,
          data: { run: change.run, from: { ...plan.from }, to: { ...plan.to }, ...cutOver },
        },
        ctx,
      );
      await writeOutboxJob(em, {
        name: REMOVE_MOVED_SOURCE_JOB,
        id: removeMovedSourceJobId(tenant.id, change.run),
        payload: { tenantId: tenant.id, run: String(change.run) },
        delayMs: this.m.sourceRetentionMs,
      });
      return row.route_version;
    });
    plan.cutOver = cutOver;
    plan.sourceRemovalDueAt = dueAt;
    return routeVersion;
  }

  /** The staging secret and the source's own alarms go; the change SUCCEEDED. */
  private async cleanUp(run: MoveRun, completion: StepCompletion): Promise<ChangeStepResult> {
    const { plan, names, tenant, change, ctx } = run;
    if (plan.targetAppSecret?.endsWith(MOVE_APP_SECRET_SUFFIX))
      await run.target.secrets.delete(plan.targetAppSecret, { force: true }, tenant.id);
    if (plan.from.placement === 'instance')
      await run.source.alarms.delete(ALARM_METRICS.map((m) => names.alarmName(m)));
    await this.m.changes.succeed(
      change,
      null,
      completion,
      {
        type: 'tenant.change_succeeded',
        message: `move to ${placeLabel(plan.to)} done; the source is removed after ${plan.sourceRemovalDueAt ?? 'the retention'}`,
        data: { run: change.run, kind: 'move', sourceRemovalDueAt: plan.sourceRemovalDueAt },
      },
      ctx,
    );
    return { kind: 'done', recorded: true };
  }

  /**
   * A failure before the freeze: record why, then remove the target and lift the copy (next
   * passes carry on until that is done), then FAILED. After the freeze nothing is undone: the
   * step is tried again later, for the tenant is served from nowhere else.
   */
  private async failed(run: MoveRun, step: MoveStep, error: ProvisioningError): Promise<SagaOutcome> {
    if (step === 'cut-over' || step === 'clean-up') {
      if (step === 'clean-up' || (await this.frozen(run))) {
        this.log.error(
          { tenantId: run.tenant.id, step, code: error.code, err: error.message },
          'move past its freeze failed; trying again (the tenant is served once it switches)',
        );
        return {
          kind: 'delay',
          delayMs: this.m.deps.settings.retry.maxDelayMs,
          reason: `${step} after the freeze`,
        };
      }
    }
    const failing: ChangeFailure = { code: error.code, message: error.message, step };
    await this.m.changes.mergePlan(run.change, { failing });
    return this.compensate(run, failing);
  }

  /** Whether `secret` in the target's region is this move's to remove: never the tenant's own live one. */
  private madeByMove(plan: MovePlan, secret: string, names: TenantResourceNames): boolean {
    return (
      secret !== names.appSecretName || plan.from.region !== plan.to.region || plan.from.placement === 'pool'
    );
  }

  private async compensate(run: MoveRun, failing: ChangeFailure): Promise<SagaOutcome> {
    const { plan, tenant, names } = run;
    try {
      await this.copy(run, (copyPlan) => abortTenantCopy(copyPlan)).catch((error: unknown) => {
        // A target or source that never came to be has nothing to lift.
        if (error instanceof ProvisioningError && error.code === ProvisioningErrorCode.INCONSISTENT_STATE)
          return;
        throw error;
      });
      await this.setPaused(tenant.id, false);
      if (plan.to.placement === 'instance') {
        const t = this.targetRun(run);
        const identifier = t.run.names.instanceIdentifier;
        await run.target.alarms.delete(ALARM_METRICS.map((m) => names.alarmName(m))).catch(() => undefined);
        const removed = await removeInstanceWithoutSnapshot(run.target, {
          identifier,
          ownerTenantId: tenant.id,
          roles: [...appLoginRoles(names.appRole), names.appRole, names.masterUsername],
        });
        if (removed.kind === 'wait')
          return { kind: 'delay', delayMs: 5_000, reason: `target instance: ${removed.reason}` };
        for (const secret of [t.run.names.appSecretName, t.run.names.masterSecretName])
          if (this.madeByMove(plan, secret, names))
            await run.target.secrets.delete(secret, { force: true }, tenant.id);
      } else if (plan.to.hostId) {
        const placement = plan.to.placement;
        const access = await new SharedHostSteps(run.target, placement).reachableHost(
          this.stepRun(run, { ...tenant, placement, hostId: plan.to.hostId }),
        );
        if (access && placement === 'pool')
          await run.target.admin.deleteTenantRows(access.endpoint, access.owner, { tenantId: tenant.id });
        if (access && placement === 'schema')
          await run.target.admin.dropTenantSchema(access.endpoint, access.owner, {
            schema: names.tenantSchema,
            role: names.appRole,
          });
        if (
          placement === 'schema' &&
          plan.targetAppSecret &&
          this.madeByMove(plan, plan.targetAppSecret, names)
        )
          await run.target.secrets.delete(plan.targetAppSecret, { force: true }, tenant.id);
      }
    } catch (error) {
      const classified = this.classifyCopyError(error);
      if (classified instanceof ProvisioningError && classified.retryable)
        return { kind: 'delay', delayMs: 5_000, reason: `removing the move's target: ${classified.message}` };
      throw classified;
    }
    await this.m.changes.fail(
      run.change,
      failing,
      {
        type: 'tenant.change_failed',
        message: `move to ${placeLabel(plan.to)} failed at ${failing.step}: ${failing.message}; the tenant is served where it was`,
        data: { run: run.change.run, kind: 'move', code: failing.code, step: failing.step },
      },
      run.ctx,
    );
    // The reservation ends with the change (it counts only while RUNNING).
    return { kind: 'finished', status: tenant.status };
  }
}
