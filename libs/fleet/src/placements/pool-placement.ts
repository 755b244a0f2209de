import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';
import type { StepDeps, StepRun } from '../saga/provisioning-steps';
import type { StepCompletion } from '../store/provisioning-store';
import {
  unknownStep,
  type PlacementLifecycle,
  type PlacementStepResult,
  type UndoResult,
} from './placement-lifecycle';
import { SharedHostSteps, type HostAccess } from './shared-host-steps';

export const POOL_PROVISION_STEPS = ['place', 'wait-host', 'activate'] as const;

/** The tenant's rows of each table go to S3 before they are deleted. */
export const POOL_DEPROVISION_STEPS = ['export-rows', 'delete-rows', 'mark-deleted'] as const;

/**
 * `pool`: the tenant's rows in the shared tables of its host's pool database, under the
 * row-level security every tenant table has. Nothing of its own on the host: no role, no secret
 * (the data plane uses the host's pool login and sets the tenant per transaction), no migration
 * (the host's saga migrates the pool database once for all its tenants; the tenant's schema
 * version is the pool's).
 */
export class PoolPlacement implements PlacementLifecycle {
  readonly placement = 'pool' as const;
  readonly provisionSteps = POOL_PROVISION_STEPS;
  readonly deprovisionSteps = POOL_DEPROVISION_STEPS;
  private readonly shared: SharedHostSteps;

  constructor(private readonly deps: StepDeps) {
    this.shared = new SharedHostSteps(deps, 'pool');
  }

  async provision(step: string, run: StepRun, completion: StepCompletion): Promise<PlacementStepResult> {
    switch (step) {
      case 'place':
        return this.shared.place(run);
      case 'wait-host':
        return this.shared.waitHost(run);
      case 'activate': {
        const { host } = await this.shared.hostAccess(run);
        if (!host.schemaVersion) {
          throw new ProvisioningError(
            ProvisioningErrorCode.INCONSISTENT_STATE,
            `host ${host.name} is available, but no schema version of its pool database is recorded`,
          );
        }
        await this.deps.store.updateDatabaseFacts(run.tenant.id, { schemaVersion: host.schemaVersion });
        return this.shared.activate(run, completion);
      }
      default:
        throw unknownStep(this.placement, step);
    }
  }

  async undo(step: string, run: StepRun): Promise<UndoResult> {
    switch (step) {
      case 'activate':
        return { kind: 'done' };
      case 'wait-host': {
        // A tenant that never became ACTIVE has no rows; deleting any is what keeps this safe.
        const access = await this.shared.reachableHost(run);
        if (access) await this.deleteRows(run, access);
        return { kind: 'done' };
      }
      case 'place':
        await this.shared.release(run);
        return { kind: 'done' };
      default:
        throw unknownStep(this.placement, step);
    }
  }

  async deprovision(step: string, run: StepRun, completion: StepCompletion): Promise<PlacementStepResult> {
    switch (step) {
      case 'export-rows':
        return this.shared.exportTenant(run);
      case 'delete-rows': {
        const access = await this.shared.reachableHost(run);
        if (!access) return { kind: 'done', data: { skipped: 'the tenant has no host that answers' } };
        const { rows, batches } = await this.deleteRows(run, access);
        const deleted = Object.values(rows).reduce((sum, n) => sum + n, 0);
        return { kind: 'done', data: { host: access.host.name, rowsDeleted: deleted, batches } };
      }
      case 'mark-deleted':
        return this.shared.markDeleted(run, completion);
      default:
        throw unknownStep(this.placement, step);
    }
  }

  /** In batches of 1000 rows, each its own transaction under a 2 s lock_timeout (deleteTenantRows' defaults). */
  private deleteRows(run: StepRun, access: HostAccess) {
    return this.deps.admin.deleteTenantRows(access.endpoint, access.owner, { tenantId: run.tenant.id });
  }
}
