import { Injectable } from '@nestjs/common';
import { ProvisioningStepEntity, TenantEntity, TenantEventEntity } from '@silo/control-plane-db';
import {
  TenantError,
  TenantErrorCode,
  transition,
  type SharedPlacement,
  type TenantStatus,
} from '@silo/core';
import { DataSource, type EntityManager } from 'typeorm';
import { lockHostPool } from '../hosts/host-pool-lock';
import { recordHostEmptyIfSo } from '../placements/shared-hosts';
import {
  stepDonePatch,
  type EventInput,
  type ProvisioningStore,
  type Saga,
  type SagaContext,
  type StepRecord,
  type TenantDatabaseFacts,
  type TenantRecord,
  type TransitionPatch,
} from './provisioning-store';

/** Keeps a query on `provisioning_steps` (aliased `s`) to the rows of the tenant's current run. */
export const IN_CURRENT_RUN = 's.run = (SELECT t.provisioning_run FROM tenants t WHERE t.id = s.tenant_id)';

/** Keeps a query on `provisioning_steps` (aliased `s`) to the rows of the tenant's latest change. */
export const IN_CURRENT_CHANGE = 's.run = (SELECT t.change_run FROM tenants t WHERE t.id = s.tenant_id)';

/** Provisioning and deprovisioning steps belong to a provisioning run; the others to a change. */
export function isChangeSaga(saga: Saga): boolean {
  return (
    saga === 'modify' || saga === 'rotate' || saga === 'move' || saga === 'restore' || saga === 'undelete'
  );
}

/** {@link ProvisioningStore} on the control-plane database. */
@Injectable()
export class TypeormProvisioningStore implements ProvisioningStore {
  constructor(private readonly dataSource: DataSource) {}

  async getTenant(tenantId: string): Promise<TenantRecord | null> {
    const row = await this.dataSource.getRepository(TenantEntity).findOneBy({ id: tenantId });
    return row ? toRecord(row) : null;
  }

  /** The steps of the tenant's current provisioning run, or of its latest change. */
  async getSteps(tenantId: string, saga: Saga): Promise<Map<string, StepRecord>> {
    const rows = await this.dataSource
      .getRepository(ProvisioningStepEntity)
      .createQueryBuilder('s')
      .where('s.tenant_id = :tenantId AND s.saga = :saga', { tenantId, saga })
      .andWhere(isChangeSaga(saga) ? IN_CURRENT_CHANGE : IN_CURRENT_RUN)
      .getMany();
    return new Map(
      rows.map((r) => [
        r.step,
        {
          step: r.step,
          status: r.status,
          attempts: r.attempts,
          failures: r.failures,
          startedAt: r.startedAt,
          finishedAt: r.finishedAt,
          lastErrorCode: r.lastErrorCode,
          lastErrorMessage: r.lastErrorMessage,
        },
      ]),
    );
  }

  async transition(
    tenantId: string,
    from: TenantStatus,
    to: TenantStatus,
    patch: TransitionPatch,
    event: EventInput,
    ctx: SagaContext,
  ): Promise<void> {
    transition(from, to);
    await this.dataSource.transaction(async (em) => {
      const hostId = patch.releasePlace ? await lockTenantHostPool(em, tenantId) : null;
      const set: Partial<TenantEntity> = { status: to };
      if (patch.sagaStartedAt !== undefined) set.sagaStartedAt = patch.sagaStartedAt;
      if (patch.failure !== undefined) {
        set.failureCode = patch.failure?.code ?? null;
        set.failureMessage = patch.failure?.message ?? null;
        set.failureStep = patch.failure?.step ?? null;
      }
      const result = await em
        .createQueryBuilder()
        .update(TenantEntity)
        .set({ ...set, version: () => 'version + 1' })
        .where('id = :id AND status = :from', { id: tenantId, from })
        .execute();
      if (!result.affected) {
        throw new TenantError(TenantErrorCode.ILLEGAL_TRANSITION, `tenant ${tenantId} is no longer ${from}`);
      }
      await appendTenantEvent(em, tenantId, event, ctx);
      if (hostId) await recordHostEmptyIfSo(em, hostId);
      const done = patch.completeStep;
      if (done) {
        await writeStep(em, tenantId, done.saga, done, stepDonePatch(done.finishedAt));
        await appendTenantEvent(em, tenantId, done.event, ctx);
      }
    });
  }

  async updateStep(
    tenantId: string,
    saga: Saga,
    step: { name: string; position: number },
    patch: Partial<Omit<StepRecord, 'step'>>,
    event: EventInput | null,
    ctx: SagaContext,
  ): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      await writeStep(em, tenantId, saga, step, patch);
      if (event) await appendTenantEvent(em, tenantId, event, ctx);
    });
  }

  async updateDatabaseFacts(tenantId: string, facts: Partial<TenantDatabaseFacts>): Promise<void> {
    const set: Partial<TenantEntity> = {};
    if (facts.instanceIdentifier !== undefined) set.dbInstanceIdentifier = facts.instanceIdentifier;
    if (facts.instanceClass !== undefined) set.dbInstanceClass = facts.instanceClass;
    if (facts.engine !== undefined) set.dbEngine = facts.engine;
    if (facts.engineVersion !== undefined) set.dbEngineVersion = facts.engineVersion;
    if (facts.multiAz !== undefined) set.dbMultiAz = facts.multiAz;
    if (facts.storageEncrypted !== undefined) set.dbStorageEncrypted = facts.storageEncrypted;
    if (facts.endpointHost !== undefined) set.dbEndpointHost = facts.endpointHost;
    if (facts.endpointPort !== undefined) set.dbEndpointPort = facts.endpointPort;
    if (facts.databaseName !== undefined) set.dbName = facts.databaseName;
    if (facts.masterSecretArn !== undefined) set.masterSecretArn = facts.masterSecretArn;
    if (facts.appSecretArn !== undefined) set.appSecretArn = facts.appSecretArn;
    if (facts.schemaVersion !== undefined) set.schemaVersion = facts.schemaVersion;
    if (!Object.keys(set).length) return;
    await this.dataSource
      .createQueryBuilder()
      .update(TenantEntity)
      .set({ ...set, version: () => 'version + 1' })
      .where('id = :id', { id: tenantId })
      .execute();
  }

  async withTenantLock<T>(tenantId: string, work: () => Promise<T>): Promise<T | 'locked'> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      const [{ locked }] = (await runner.query(`SELECT pg_try_advisory_lock(hashtext($1)) AS locked`, [
        `silo:tenant:${tenantId}`,
      ])) as { locked: boolean }[];
      if (!locked) return 'locked';
      try {
        return await work();
      } finally {
        await runner.query(`SELECT pg_advisory_unlock(hashtext($1))`, [`silo:tenant:${tenantId}`]);
      }
    } finally {
      await runner.release();
    }
  }

  async recordFailure(
    tenantId: string,
    failure: NonNullable<TenantRecord['failure']>,
    event: EventInput,
    ctx: SagaContext,
  ): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      const result = await em
        .createQueryBuilder()
        .update(TenantEntity)
        .set({
          failureCode: failure.code,
          failureMessage: failure.message,
          failureStep: failure.step,
          version: () => 'version + 1',
        })
        .where("id = :id AND status = 'PROVISIONING'", { id: tenantId })
        .execute();
      if (!result.affected) {
        throw new TenantError(
          TenantErrorCode.ILLEGAL_TRANSITION,
          `tenant ${tenantId} is no longer PROVISIONING`,
        );
      }
      await appendTenantEvent(em, tenantId, event, ctx);
    });
  }
}

/**
 * Takes the placements lock of the tenant's host (the one placements take, so the host's count
 * does not change under the caller) and returns the host's id; null for a tenant with no host.
 */
async function lockTenantHostPool(em: EntityManager, tenantId: string): Promise<string | null> {
  const [placed] = await em.query<Array<{ host_id: string; placement: SharedPlacement; tier: string }>>(
    `SELECT t.host_id, h.placement, h.tier FROM tenants t JOIN hosts h ON h.id = t.host_id WHERE t.id = $1`,
    [tenantId],
  );
  if (!placed) return null;
  await lockHostPool(em, placed.placement, placed.tier);
  return placed.host_id;
}

/** Creates or updates the step's row in the tenant's current provisioning run (or latest change). */
async function writeStep(
  em: EntityManager,
  tenantId: string,
  saga: Saga,
  step: { name: string; position: number },
  patch: Partial<Omit<StepRecord, 'step'>>,
): Promise<void> {
  const repo = em.getRepository(ProvisioningStepEntity);
  const tenant = await em
    .getRepository(TenantEntity)
    .findOne({ select: { id: true, provisioningRun: true, changeRun: true }, where: { id: tenantId } });
  if (!tenant) throw new Error(`tenant ${tenantId} does not exist`);
  const run = isChangeSaga(saga) ? tenant.changeRun : tenant.provisioningRun;
  const existing = await repo.findOneBy({ tenantId, saga, run, step: step.name });
  await repo.save({
    ...(existing ?? { tenantId, saga, run, step: step.name, status: 'pending' as const, attempts: 0 }),
    ...patch,
    position: step.position,
    updatedAt: new Date(),
  });
}

/** Appends one line to a tenant's audit trail inside the caller's transaction. */
export async function appendTenantEvent(
  em: EntityManager,
  tenantId: string,
  event: EventInput,
  ctx: SagaContext,
): Promise<void> {
  const events = em.getRepository(TenantEventEntity);
  await events.save(
    events.create({
      tenantId,
      type: event.type,
      message: event.message,
      actor: ctx.actor,
      data: event.data ?? {},
      correlationId: ctx.correlationId,
    }),
  );
}

function toRecord(row: TenantEntity): TenantRecord {
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    tier: row.tier,
    status: row.status,
    placement: row.placement,
    hostId: row.hostId,
    region: row.region,
    provisioningRun: row.provisioningRun,
    sagaStartedAt: row.sagaStartedAt,
    failure:
      row.failureCode && row.failureStep
        ? { code: row.failureCode, message: row.failureMessage ?? '', step: row.failureStep }
        : null,
    database: {
      instanceIdentifier: row.dbInstanceIdentifier,
      instanceClass: row.dbInstanceClass,
      engine: row.dbEngine,
      engineVersion: row.dbEngineVersion,
      multiAz: row.dbMultiAz,
      storageEncrypted: row.dbStorageEncrypted,
      endpointHost: row.dbEndpointHost,
      endpointPort: row.dbEndpointPort,
      databaseName: row.dbName,
      masterSecretArn: row.masterSecretArn,
      appSecretArn: row.appSecretArn,
      schemaVersion: row.schemaVersion,
    },
  };
}
