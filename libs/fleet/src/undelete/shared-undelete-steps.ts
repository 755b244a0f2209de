import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';
import { ledgerRebuildSql } from '@silo/tenant-schema';
import type { ChangeStepResult } from '../changes/change-steps';
import type { ChangeStore } from '../changes/change-store';
import { placementRequestOf, type HostAllocator } from '../hosts/host-allocator';
import { hostConnectionOf } from '../placements/schema-placement';
import { SharedHostSteps } from '../placements/shared-host-steps';
import { schemaTenantConnectionLimit } from '../placements/shared-hosts';
import {
  bootstrapTenantApp,
  migrateForProvisioning,
  type StepDeps,
  type StepRun,
} from '../saga/provisioning-steps';
import type { SagaLog } from '../store/provisioning-store';
import { isSharedTierProfile } from '../tiers';
import type { SharedUndeletePlan } from './undelete-plan';

/** One shared undelete's pass: its change's plan, its reserved host as the run's `tenant.hostId`. */
export interface SharedUndeleteRun {
  change: { tenantId: string; run: number };
  plan: SharedUndeletePlan;
  deps: StepDeps;
  step: StepRun;
}

/**
 * The steps of a schema or pool tenant's undelete that differ from an instance tenant's (see
 * UndeleteSaga): a place reserved on a host of the tier (on the change, as a move's: the tenant
 * stays DELETED, and its record names its old host, until activation), its export read back from
 * S3 into it in one transaction (a schema's dump with its ledger made again to the version it
 * held, or a pool's rows), its role and login (a schema tenant's) from its restored app secret,
 * and its migrations brought to the newest.
 */
export class SharedUndeleteSteps {
  constructor(
    private readonly allocator: Pick<HostAllocator, 'reserveForChange'>,
    private readonly changes: Pick<ChangeStore, 'current'>,
    private readonly log: SagaLog,
  ) {}

  /** A place on a host of the tier with room, recorded on the change; a re-run keeps it. */
  async place(run: SharedUndeleteRun): Promise<ChangeStepResult> {
    const { profile, tenant } = run.step;
    if (!isSharedTierProfile(profile) || profile.placement !== run.plan.placement)
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `${tenant.slug} was a ${run.plan.placement} tenant, but tier ${tenant.tier} now places its tenants on ${profile.placement}: ` +
          'its export goes back only into a host of its own placement',
      );
    const { host, hostCreated } = await this.allocator.reserveForChange(
      run.change,
      placementRequestOf(profile),
      run.plan.region,
    );
    run.plan.to = { hostId: host.id };
    run.step.tenant = { ...tenant, hostId: host.id };
    return { kind: 'done', data: { host: host.name, hostCreated } };
  }

  async waitHost(run: SharedUndeleteRun): Promise<ChangeStepResult> {
    return this.shared(run).waitHost(await this.reserved(run));
  }

  /**
   * The export read from S3 and put on the host in one transaction, once (the import's id is
   * the change's): a schema tenant's dump followed by its ledger up to the version it held, or a
   * pooled tenant's rows.
   */
  async importData(run: SharedUndeleteRun): Promise<ChangeStepResult> {
    const { deps, plan } = run;
    const step = await this.reserved(run);
    const access = await this.shared(run).hostAccess(step);
    const importId = undeleteImportId(run.change);
    const body = await deps.exports.read(plan.export.key, plan.export.bucket);
    const { tenant, names } = step;
    if (plan.placement === 'pool') {
      const result = await deps.admin.importTenantRows(access.endpoint, access.owner, body, {
        tenantId: tenant.id,
        importId,
      });
      return { kind: 'done', data: { host: access.host.name, already: result.already, rows: result.rows } };
    }
    if (!plan.schemaVersion)
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `${tenant.slug} has no schema version recorded: its ledger cannot be made again`,
      );
    const after = ledgerRebuildSql(
      deps.settings.migrations,
      { placement: 'schema', schema: names.tenantSchema, tenantId: tenant.id },
      plan.schemaVersion,
      `undelete:${run.change.run}`,
    );
    const result = await deps.admin.importTenantSchema(access.endpoint, access.owner, body, {
      schema: names.tenantSchema,
      tenantId: tenant.id,
      importId,
      after,
    });
    return {
      kind: 'done',
      data: { host: access.host.name, already: result.already, schemaVersion: plan.schemaVersion },
    };
  }

  /**
   * A schema tenant's app role and login from its restored app secret (bootstrapTenantApp keeps
   * an app secret that exists: an undelete never makes new credentials), and the secret's
   * connection fields naming the host it is on now. A pooled tenant has none of its own.
   */
  async bootstrapDatabase(run: SharedUndeleteRun): Promise<ChangeStepResult> {
    if (run.plan.placement === 'pool')
      return { kind: 'done', data: { skipped: 'a pooled tenant has no role of its own' } };
    const step = await this.reserved(run);
    const access = await this.shared(run).hostAccess(step);
    const { deps } = run;
    const { names } = step;
    const app = await deps.secrets.read(names.appSecretName);
    if (!app)
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `secret ${names.appSecretName} is missing: it was restored by this undelete`,
      );
    const connection = hostConnectionOf(access);
    if (Object.entries(connection).some(([key, value]) => app[key] !== value))
      await deps.secrets.write(names.appSecretName, { ...app, ...connection });
    step.secretValues.delete(names.appSecretName);
    await bootstrapTenantApp(deps, step, {
      endpoint: access.endpoint,
      owner: access.owner,
      connection,
      schema: names.tenantSchema,
      connectionLimit: schemaTenantConnectionLimit(access.host),
      log: this.log,
    });
    return { kind: 'done', data: { host: access.host.name, login: String(app.username) } };
  }

  /** A schema tenant's migrations to the newest; a pooled tenant's version is its pool's. */
  async runMigrations(run: SharedUndeleteRun): Promise<ChangeStepResult> {
    const step = await this.reserved(run);
    const access = await this.shared(run).hostAccess(step);
    const { deps } = run;
    const { tenant, names } = step;
    if (run.plan.placement === 'pool') {
      if (!access.host.schemaVersion)
        throw new ProvisioningError(
          ProvisioningErrorCode.INCONSISTENT_STATE,
          `host ${access.host.name} is available, but no schema version of its pool database is recorded`,
        );
      await deps.store.updateDatabaseFacts(tenant.id, { schemaVersion: access.host.schemaVersion });
      return { kind: 'done', data: { schemaVersion: access.host.schemaVersion } };
    }
    const result = await migrateForProvisioning(deps, access.endpoint, access.owner, tenant.slug, {
      placement: 'schema',
      schema: names.tenantSchema,
      tenantId: tenant.id,
    });
    await deps.store.updateDatabaseFacts(tenant.id, { schemaVersion: result.schemaVersion });
    return { kind: 'done', data: { from: result.from, schemaVersion: result.schemaVersion } };
  }

  /**
   * Compensation's part on the host: what the import put there goes (a schema tenant's schema,
   * ledger and roles; a pooled tenant's rows), only where the host committed this undelete's
   * import: a schema of the tenant's name that the import refused is someone else's and stays.
   * A host that does not answer (never reserved, failed) has nothing of it.
   */
  async removeFromHost(run: SharedUndeleteRun): Promise<void> {
    const step = await this.reserved(run, { optional: true });
    if (!step) return;
    const access = await this.shared(run).reachableHost(step);
    if (!access) return;
    const { deps } = run;
    if (!(await deps.admin.tenantImported(access.endpoint, access.owner, undeleteImportId(run.change))))
      return;
    if (run.plan.placement === 'pool')
      await deps.admin.deleteTenantRows(access.endpoint, access.owner, { tenantId: step.tenant.id });
    else
      await deps.admin.dropTenantSchema(access.endpoint, access.owner, {
        schema: step.names.tenantSchema,
        role: step.names.appRole,
      });
  }

  /** The reserved host's id: the plan's, else (a pass that started before `place` wrote it) the change row's. */
  async reservedHostId(run: SharedUndeleteRun): Promise<string | null> {
    if (run.plan.to?.hostId) return run.plan.to.hostId;
    const change = await this.changes.current(run.change.tenantId);
    const hostId = (change?.plan as SharedUndeletePlan | undefined)?.to?.hostId ?? null;
    if (hostId) run.plan.to = { hostId };
    return hostId;
  }

  private shared(run: SharedUndeleteRun): SharedHostSteps {
    return new SharedHostSteps(run.deps, run.plan.placement);
  }

  /** The run with the tenant on its reserved host (SharedHostSteps reads `tenant.hostId`). */
  private async reserved(run: SharedUndeleteRun, options: { optional: true }): Promise<StepRun | null>;
  private async reserved(run: SharedUndeleteRun): Promise<StepRun>;
  private async reserved(run: SharedUndeleteRun, options?: { optional: true }): Promise<StepRun | null> {
    const hostId = await this.reservedHostId(run);
    if (!hostId) {
      if (options?.optional) return null;
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `${run.step.tenant.slug}'s undelete has no host reserved`,
      );
    }
    if (run.step.tenant.hostId !== hostId) run.step.tenant = { ...run.step.tenant, hostId };
    return run.step;
  }
}

/** The id an undelete's import is recorded under on its host (`silo_restore.imports`). */
export function undeleteImportId(change: { tenantId: string; run: number }): string {
  return `undelete:${change.tenantId}:${change.run}`;
}
