import {
  OPEN_CHANGE_STATUSES,
  ProvisioningStepEntity,
  TenantChangeEntity,
  TenantEntity,
  type ChangeStatus,
} from '@silo/control-plane-db';
import type { TierName } from '@silo/core';
import { DataSource, In, type EntityManager } from 'typeorm';
import {
  stepDonePatch,
  type EventInput,
  type SagaContext,
  type StepCompletion,
} from '../store/provisioning-store';
import { appendTenantEvent } from '../store/typeorm-provisioning-store';

/** The control-plane writes of a change saga; each that comes with an event writes both at once. */
export class ChangeStore {
  constructor(private readonly dataSource: DataSource) {}

  /** The tenant's latest change, whatever its status. */
  async current(tenantId: string): Promise<TenantChangeEntity | null> {
    return this.dataSource
      .getRepository(TenantChangeEntity)
      .createQueryBuilder('c')
      .where('c.tenant_id = :tenantId', { tenantId })
      .andWhere('c.run = (SELECT t.change_run FROM tenants t WHERE t.id = c.tenant_id)')
      .getOne();
  }

  /** Open changes (for the reconciler): running ones and those waiting for the maintenance window. */
  open(): Promise<TenantChangeEntity[]> {
    return this.dataSource
      .getRepository(TenantChangeEntity)
      .find({ where: { status: In([...OPEN_CHANGE_STATUSES]) } });
  }

  async storageModifiedAt(tenantId: string): Promise<Date | null> {
    const row = await this.dataSource
      .getRepository(TenantEntity)
      .findOne({ select: { id: true, storageModifiedAt: true }, where: { id: tenantId } });
    return row?.storageModifiedAt ?? null;
  }

  async markStorageModified(tenantId: string, at: Date): Promise<void> {
    await this.dataSource.getRepository(TenantEntity).update({ id: tenantId }, { storageModifiedAt: at });
  }

  /** Adds `patch` to the change's plan (what a rotation decided: versions, logins; never a password). */
  async mergePlan(change: TenantChangeEntity, patch: Record<string, unknown>): Promise<void> {
    await this.dataSource.query(
      `UPDATE tenant_changes SET plan = plan || $3::jsonb, updated_at = now() WHERE tenant_id = $1 AND run = $2`,
      [change.tenantId, change.run, JSON.stringify(patch)],
    );
    change.plan = { ...change.plan, ...patch };
  }

  /** RUNNING ↔ PENDING_MAINTENANCE, with what RDS has pending; an event only when the status changes. */
  async setStatus(
    change: TenantChangeEntity,
    status: Extract<ChangeStatus, 'RUNNING' | 'PENDING_MAINTENANCE'>,
    pending: Record<string, unknown> | null,
    event: EventInput | null,
    ctx: SagaContext,
  ): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      await updateOpen(em, change, { status, pendingModifiedValues: pending });
      if (event && change.status !== status) await appendTenantEvent(em, change.tenantId, event, ctx);
    });
  }

  /**
   * The change done: the tenant's new tier and instance facts (a shared tenant's tier alone: it
   * has no instance of its own), the change SUCCEEDED, its last step done and the event, in one
   * transaction, so that nothing is half-recorded.
   */
  async succeed(
    change: TenantChangeEntity,
    facts: { tier: TierName; instanceClass?: string; multiAz?: boolean } | null,
    completion: StepCompletion,
    event: EventInput,
    ctx: SagaContext,
    /** More to write in the same transaction, after the change's own rows. */
    also?: (em: EntityManager) => Promise<void>,
  ): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      await updateOpen(em, change, {
        status: 'SUCCEEDED',
        pendingModifiedValues: null,
        finishedAt: new Date(),
      });
      if (facts) {
        await em.getRepository(TenantEntity).update(
          { id: change.tenantId },
          {
            tier: facts.tier,
            ...(facts.instanceClass !== undefined && { dbInstanceClass: facts.instanceClass }),
            ...(facts.multiAz !== undefined && { dbMultiAz: facts.multiAz }),
            version: () => 'version + 1',
          },
        );
      }
      await em.getRepository(ProvisioningStepEntity).save({
        tenantId: change.tenantId,
        saga: completion.saga,
        run: change.run,
        step: completion.name,
        position: completion.position,
        ...stepDonePatch(completion.finishedAt),
        updatedAt: new Date(),
      });
      await appendTenantEvent(em, change.tenantId, completion.event, ctx);
      await appendTenantEvent(em, change.tenantId, event, ctx);
      await also?.(em);
    });
  }

  /** A change whose tenant is no longer ACTIVE or SUSPENDED (deleted meanwhile) ends FAILED. */
  abandon(
    change: TenantChangeEntity,
    status: string,
    what: string,
    step: string,
    ctx: SagaContext,
  ): Promise<void> {
    return this.fail(
      change,
      { code: 'TENANT_NOT_LIVE', message: `the tenant became ${status}`, step },
      {
        type: 'tenant.change_failed',
        message: `${what} abandoned: the tenant is ${status}`,
        data: { run: change.run },
      },
      ctx,
    );
  }

  /** The change FAILED with its reason; the tenant keeps its tier and status. */
  async fail(
    change: TenantChangeEntity,
    error: { code: string; message: string; step: string },
    event: EventInput,
    ctx: SagaContext,
  ): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      await updateOpen(em, change, {
        status: 'FAILED',
        errorCode: error.code,
        errorMessage: error.message,
        errorStep: error.step,
        finishedAt: new Date(),
      });
      await appendTenantEvent(em, change.tenantId, event, ctx);
    });
  }
}

/** Updates a change that is still open; one that ended meanwhile is left as it is. */
async function updateOpen(
  em: EntityManager,
  change: TenantChangeEntity,
  set: Partial<Omit<TenantChangeEntity, 'plan' | 'pendingModifiedValues'>> & {
    pendingModifiedValues?: Record<string, unknown> | null;
  },
): Promise<void> {
  const { pendingModifiedValues, ...rest } = set;
  const result = await em
    .createQueryBuilder()
    .update(TenantChangeEntity)
    .set({
      ...rest,
      ...(pendingModifiedValues !== undefined
        ? { pendingModifiedValues: () => (pendingModifiedValues === null ? 'NULL' : ':pending::jsonb') }
        : {}),
      updatedAt: () => 'now()',
    })
    .where('tenant_id = :tenantId AND run = :run AND status IN (:...open)', {
      tenantId: change.tenantId,
      run: change.run,
      open: [...OPEN_CHANGE_STATUSES],
      pending: JSON.stringify(pendingModifiedValues ?? null),
    })
    .execute();
  if (!result.affected)
    throw new Error(`change ${change.run} of tenant ${change.tenantId} is no longer open`);
}
