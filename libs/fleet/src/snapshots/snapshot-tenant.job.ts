import { TenantEntity } from '@silo/control-plane-db';
import { ProvisioningError, tenantResourceNames, tenantTags } from '@silo/core';
import type { DataSource } from 'typeorm';
import type { SnapshotTenantJobData } from '../jobs/snapshot-jobs';
import type { SagaOutcome } from '../saga/provisioning-saga';
import { SharedHostSteps } from '../placements/shared-host-steps';
import type { StepDeps, StepRun } from '../saga/provisioning-steps';
import { regionOf, stepDepsInRegion } from '../saga/regional-deps';
import { passUnderTenantLock } from '../saga/tenant-pass';
import type { SagaContext, SagaLog } from '../store/provisioning-store';
import { appendTenantEvent } from '../store/typeorm-provisioning-store';

/**
 * SNAPSHOT_TENANT_JOB: a manual snapshot of an instance tenant, under the tenant's lock (so no
 * deletion drops the database meanwhile). The backend keeps the data first (the local backend: a
 * dump under the snapshot's name; RDS: nothing), then RDS takes the snapshot tagged as the
 * tenant's, then `tenant.snapshot_taken`. A re-run finds the snapshot RDS already has and does not
 * dump again. Retryable failures are thrown (BullMQ retries the job); a permanent one, or a tenant
 * that is no longer live on that instance, ends with `tenant.snapshot_failed`.
 */
export class SnapshotTenantJob {
  constructor(
    private readonly deps: StepDeps,
    private readonly dataSource: DataSource,
    private readonly log: SagaLog,
  ) {}

  run(data: SnapshotTenantJobData, ctx: SagaContext): Promise<SagaOutcome> {
    return passUnderTenantLock(this.deps, data.tenantId, () => this.pass(data, ctx));
  }

  private async pass(data: SnapshotTenantJobData, ctx: SagaContext): Promise<SagaOutcome> {
    const { tenantId, instanceIdentifier: instance, snapshotIdentifier: snapshot } = data;
    const tenant = await this.dataSource.getRepository(TenantEntity).findOneBy({ id: tenantId });
    if (!tenant) return { kind: 'finished', status: 'MISSING' };
    if (data.exportKind) return this.exportPass(tenant, data, ctx);
    if (
      !['ACTIVE', 'SUSPENDED'].includes(tenant.status) ||
      tenant.placement !== 'instance' ||
      tenant.dbInstanceIdentifier !== instance
    )
      return this.failed(
        tenant,
        data,
        `${tenant.slug} is no longer live on ${instance} (${tenant.status})`,
        ctx,
      );
    const { rds, host, settings } = stepDepsInRegion(this.deps, regionOf(tenant, this.deps.settings));
    try {
      const existing = await rds.snapshot(snapshot);
      if (!existing) await host.snapshot({ identifier: instance, snapshotIdentifier: snapshot });
      await rds.createSnapshot(instance, snapshot, {
        tags: tenantTags(tenant, settings.environment),
        ownerTenantId: tenantId,
      });
    } catch (error) {
      if (!(error instanceof ProvisioningError) || error.retryable) throw error;
      return this.failed(tenant, data, `${error.code}: ${error.message}`, ctx);
    }
    await appendTenantEvent(
      this.dataSource.manager,
      tenantId,
      {
        type: 'tenant.snapshot_taken',
        message: `manual snapshot ${snapshot} of ${instance} taken`,
        data: { snapshot, instance },
      },
      ctx,
    );
    return { kind: 'finished', status: tenant.status };
  }

  /**
   * A schema or pool tenant's manual snapshot: its data exported to S3 from its host as its
   * deletion would export it (SharedHostSteps.exportTenant), under the key of the time it was
   * asked for, so a re-run writes the same object again. Then `tenant.snapshot_taken` with where
   * it is, which `GET …/snapshots` lists.
   */
  private async exportPass(
    tenant: TenantEntity,
    data: SnapshotTenantJobData,
    ctx: SagaContext,
  ): Promise<SagaOutcome> {
    const placement = tenant.placement;
    if (!['ACTIVE', 'SUSPENDED'].includes(tenant.status) || placement === 'instance' || !tenant.hostId)
      return this.failed(tenant, data, `${tenant.slug} is no longer live on a host (${tenant.status})`, ctx);
    const deps = stepDepsInRegion(this.deps, regionOf(tenant, this.deps.settings));
    const record = await deps.store.getTenant(tenant.id);
    if (!record) return { kind: 'finished', status: 'MISSING' };
    const run: StepRun = {
      tenant: record,
      names: tenantResourceNames(deps.settings.prefix, tenant.slug),
      profile: deps.settings.tiers[tenant.tier],
      tags: tenantTags(tenant, deps.settings.environment),
      ctx,
      secretValues: new Map(),
    };
    let exported: Record<string, unknown> | undefined;
    try {
      const result = await new SharedHostSteps(deps, placement).exportTenant(
        run,
        new Date(data.exportAt ?? Date.now()),
      );
      exported = result.kind === 'done' ? result.data : undefined;
    } catch (error) {
      if (!(error instanceof ProvisioningError) || error.retryable) throw error;
      return this.failed(tenant, data, `${error.code}: ${error.message}`, ctx);
    }
    if (!exported || typeof exported.key !== 'string')
      return this.failed(
        tenant,
        data,
        typeof exported?.skipped === 'string' ? exported.skipped : 'nothing was exported',
        ctx,
      );
    await appendTenantEvent(
      this.dataSource.manager,
      tenant.id,
      {
        type: 'tenant.snapshot_taken',
        message: `manual export ${exported.key} of ${tenant.slug} taken (${String(exported.bytes)} bytes)`,
        data: { snapshot: exported.key, ...exported },
      },
      ctx,
    );
    return { kind: 'finished', status: tenant.status };
  }

  private async failed(
    tenant: TenantEntity,
    { instanceIdentifier: instance, snapshotIdentifier: snapshot }: SnapshotTenantJobData,
    reason: string,
    ctx: SagaContext,
  ): Promise<SagaOutcome> {
    await appendTenantEvent(
      this.dataSource.manager,
      tenant.id,
      {
        type: 'tenant.snapshot_failed',
        message: `manual snapshot ${snapshot} of ${instance} not taken: ${reason}`,
        data: { snapshot, instance, reason },
      },
      ctx,
    );
    this.log.warn({ tenantId: tenant.id, snapshot, reason }, 'manual snapshot not taken');
    return { kind: 'finished', status: tenant.status };
  }
}
