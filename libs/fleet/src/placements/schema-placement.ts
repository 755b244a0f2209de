import {
  bootstrapTenantApp,
  migrateForProvisioning,
  type StepDeps,
  type StepRun,
} from '../saga/provisioning-steps';
import type { SagaLog, StepCompletion } from '../store/provisioning-store';
import {
  unknownStep,
  type PlacementLifecycle,
  type PlacementStepResult,
  type UndoResult,
} from './placement-lifecycle';
import { SharedHostSteps, type HostAccess } from './shared-host-steps';
import { schemaTenantConnectionLimit } from './shared-hosts';

export const SCHEMA_PROVISION_STEPS = [
  'place',
  'wait-host',
  'bootstrap-database',
  'run-migrations',
  'activate',
] as const;

/** The schema's `pg_dump` goes to S3 before anything of the tenant is removed. */
export const SCHEMA_DEPROVISION_STEPS = [
  'export-schema',
  'drop-schema',
  'schedule-secret-deletion',
  'mark-deleted',
] as const;

const DONE: PlacementStepResult = { kind: 'done' };

/**
 * `schema`: the tenant's own schema and login role on a shared host of its tier. No instance,
 * no master secret and no alarms of its own (the host's alarms are its alarms). Its app secret
 * `<prefix>/<slug>/app` names the host's endpoint and the tenant's own login, whose role defaults
 * are its schema (`search_path`) and its id (`app.tenant_id`).
 */
export class SchemaPlacement implements PlacementLifecycle {
  readonly placement = 'schema' as const;
  readonly provisionSteps = SCHEMA_PROVISION_STEPS;
  readonly deprovisionSteps = SCHEMA_DEPROVISION_STEPS;
  private readonly shared: SharedHostSteps;

  constructor(
    private readonly deps: StepDeps,
    private readonly log?: SagaLog,
  ) {
    this.shared = new SharedHostSteps(deps, 'schema');
  }

  async provision(step: string, run: StepRun, completion: StepCompletion): Promise<PlacementStepResult> {
    switch (step) {
      case 'place':
        return this.shared.place(run);
      case 'wait-host':
        return this.shared.waitHost(run);
      case 'bootstrap-database': {
        const access = await this.shared.hostAccess(run);
        await bootstrapTenantApp(this.deps, run, {
          endpoint: access.endpoint,
          owner: access.owner,
          connection: hostConnectionOf(access),
          schema: run.names.tenantSchema,
          connectionLimit: schemaTenantConnectionLimit(access.host),
          log: this.log,
        });
        return { kind: 'done', data: { host: access.host.name } };
      }
      case 'run-migrations': {
        const { tenant, names } = run;
        const access = await this.shared.hostAccess(run);
        const result = await migrateForProvisioning(this.deps, access.endpoint, access.owner, tenant.slug, {
          placement: 'schema',
          schema: names.tenantSchema,
          tenantId: tenant.id,
        });
        await this.deps.store.updateDatabaseFacts(tenant.id, { schemaVersion: result.schemaVersion });
        return DONE;
      }
      case 'activate':
        return this.shared.activate(run, completion);
      default:
        throw unknownStep(this.placement, step);
    }
  }

  async undo(step: string, run: StepRun): Promise<UndoResult> {
    switch (step) {
      case 'activate':
      case 'run-migrations':
      case 'wait-host':
        // The schema migrations made goes with bootstrap-database's undo.
        return { kind: 'done' };
      case 'bootstrap-database':
        await this.removeFromHost(run);
        await this.deps.secrets.delete(run.names.appSecretName, { force: true }, run.tenant.id);
        return { kind: 'done' };
      case 'place':
        await this.shared.release(run);
        return { kind: 'done' };
      default:
        throw unknownStep(this.placement, step);
    }
  }

  async deprovision(step: string, run: StepRun, completion: StepCompletion): Promise<PlacementStepResult> {
    switch (step) {
      case 'export-schema':
        return this.shared.exportTenant(run);
      case 'drop-schema': {
        const host = await this.removeFromHost(run);
        return host
          ? { kind: 'done', data: { host } }
          : { kind: 'done', data: { skipped: 'the tenant has no host that answers' } };
      }
      case 'schedule-secret-deletion': {
        const { secretRecoveryWindowDays } = this.deps.settings;
        await this.deps.secrets.delete(
          run.names.appSecretName,
          { recoveryWindowDays: secretRecoveryWindowDays },
          run.tenant.id,
        );
        return { kind: 'done', data: { recoveryWindowDays: secretRecoveryWindowDays } };
      }
      case 'mark-deleted':
        return this.shared.markDeleted(run, completion);
      default:
        throw unknownStep(this.placement, step);
    }
  }

  /**
   * Drops the tenant's schema, ledger, app role and logins on its host; the host's name, or null when the
   * tenant has no host that answers (never placed, or a failed or deleted host, whose database
   * goes with it).
   */
  private async removeFromHost(run: StepRun): Promise<string | null> {
    const access = await this.shared.reachableHost(run);
    if (!access) return null;
    await this.deps.admin.dropTenantSchema(access.endpoint, access.owner, {
      schema: run.names.tenantSchema,
      role: run.names.appRole,
    });
    return access.host.name;
  }
}

/** A schema tenant's app secret's connection fields: its host's endpoint and instance. */
export function hostConnectionOf(access: HostAccess) {
  return {
    engine: 'postgres',
    host: access.endpoint.host,
    port: access.endpoint.port,
    dbname: access.endpoint.database,
    dbInstanceIdentifier: access.host.instanceIdentifier,
  };
}
