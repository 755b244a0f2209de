import { Injectable } from '@nestjs/common';
import { OutboxMessageEntity, TenantEntity } from '@silo/control-plane-db';
import { assertTenantSlug, transition, type TierName } from '@silo/core';
import { PROVISIONING_QUEUE } from '@silo/queue';
import { DataSource, type EntityManager } from 'typeorm';
import {
  DEPROVISION_TENANT_JOB,
  deprovisionJobId,
  PROVISION_TENANT_JOB,
  provisionJobId,
  tierPriority,
} from '../jobs/provisioning-jobs';
import type { SagaContext } from '../store/provisioning-store';
import { appendTenantEvent } from '../store/typeorm-provisioning-store';

export interface NewTenant {
  slug: string;
  name: string;
  tier: TierName;
}

/**
 * The state changes that start a saga. Each writes the tenant, its audit event and the outbox row
 * for the job in one transaction, so the job is never lost and never made for a change that
 * rolled back.
 */
@Injectable()
export class TenantOnboarding {
  constructor(private readonly dataSource: DataSource) {}

  async createTenant(input: NewTenant, ctx: SagaContext): Promise<TenantEntity> {
    assertTenantSlug(input.slug);
    return this.dataSource.transaction(async (em) => {
      const tenant = await em.getRepository(TenantEntity).save(
        em.getRepository(TenantEntity).create({
          slug: input.slug,
          name: input.name,
          tier: input.tier,
          status: 'PENDING',
          createdBy: ctx.actor,
        }),
      );
      await appendTenantEvent(
        em,
        tenant.id,
        {
          type: 'tenant.created',
          message: `tenant ${input.slug} created (${input.tier})`,
          data: {
            tier: input.tier,
          },
        },
        ctx,
      );
      await outbox(
        em,
        PROVISION_TENANT_JOB,
        provisionJobId(tenant.id, tenant.provisioningRun),
        tenant.id,
        tierPriority(input.tier),
      );
      return tenant;
    });
  }

  /** ACTIVE, SUSPENDED or FAILED → DEPROVISIONING, and the deprovisioning job. */
  async requestDeletion(tenantId: string, ctx: SagaContext): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      const tenant = await em
        .getRepository(TenantEntity)
        .findOne({ where: { id: tenantId }, lock: { mode: 'pessimistic_write' } });
      if (!tenant) throw new Error(`tenant ${tenantId} does not exist`);
      transition(tenant.status, 'DEPROVISIONING');
      await em.update(
        TenantEntity,
        { id: tenantId },
        { status: 'DEPROVISIONING', sagaStartedAt: () => 'now()', version: () => 'version + 1' },
      );
      await appendTenantEvent(
        em,
        tenantId,
        { type: 'tenant.deletion_requested', message: `deletion of ${tenant.slug} requested`, data: {} },
        ctx,
      );
      await outbox(
        em,
        DEPROVISION_TENANT_JOB,
        deprovisionJobId(tenantId),
        tenantId,
        tierPriority(tenant.tier),
      );
    });
  }
}

async function outbox(
  em: EntityManager,
  jobName: string,
  jobId: string,
  tenantId: string,
  priority: number,
): Promise<void> {
  const rows = em.getRepository(OutboxMessageEntity);
  await rows.save(
    rows.create({
      queue: PROVISIONING_QUEUE,
      jobName,
      jobId,
      payload: { tenantId },
      jobOptions: { priority },
    }),
  );
}
