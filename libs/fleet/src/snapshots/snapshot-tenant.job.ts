import { TenantEntity } from '@silo/control-plane-db';
import { ProvisioningError, tenantTags } from '@silo/core';
import type { DataSource } from 'typeorm';
import type { SnapshotTenantJobData } from '../jobs/snapshot-jobs';
import type { SagaOutcome } from '../saga/provisioning-saga';
import type { StepDeps } from '../saga/provisioning-steps';
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
