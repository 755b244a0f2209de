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

/**
 * The data export (the tenant's rows of each table to S3) comes first once the offboarding
 * blocks are wired in; until then the rows are deleted with no export.
 */
export const POOL_DEPROVISION_STEPS = ['delete-rows', 'mark-deleted'] as const;

/** Rows per delete; each batch is one short transaction. */
export const POOL_DELETE_BATCH_ROWS = 1000;
/** Batches per pass of the delete-rows step; more rows left make the job come back. */
export const POOL_DELETE_BATCHES_PER_PASS = 200;

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
        const access = await this.shared.hostAccess(run);
        const schemaVersion = await this.deps.admin.poolSchemaVersion(access.endpoint, access.owner);
        if (!schemaVersion) {
          throw new ProvisioningError(
            ProvisioningErrorCode.INCONSISTENT_STATE,
            `the pool database of host ${access.host.name} has no migration applied`,
          );
        }
        await this.deps.store.updateDatabaseFacts(run.tenant.id, { schemaVersion });
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
        if (access) {
          const { done } = await this.deleteRows(run, access);
          if (!done) return { kind: 'wait', reason: 'more rows of the tenant to delete' };
        }
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
      case 'delete-rows': {
        const access = await this.shared.reachableHost(run);
        if (!access) return { kind: 'done', data: { skipped: 'the tenant has no host that answers' } };
        const { deleted, done } = await this.deleteRows(run, access);
        if (!done) return { kind: 'wait', reason: `${deleted} rows deleted, more to go` };
        return { kind: 'done', data: { host: access.host.name } };
      }
      case 'mark-deleted':
        return this.shared.markDeleted(run, completion);
      default:
        throw unknownStep(this.placement, step);
    }
  }

  private deleteRows(run: StepRun, access: HostAccess) {
    return this.deps.admin.deleteTenantRows(access.endpoint, access.owner, {
      tenantId: run.tenant.id,
      batchSize: POOL_DELETE_BATCH_ROWS,
      maxBatches: POOL_DELETE_BATCHES_PER_PASS,
      lockTimeoutMs: this.deps.settings.migrationTimeouts.lockTimeoutMs,
    });
  }
}
