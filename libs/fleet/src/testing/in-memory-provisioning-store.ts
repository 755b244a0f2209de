import { transition as lifecycle, type Placement, type TenantStatus, type TierName } from '@silo/core';
import { randomUUID } from 'node:crypto';
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
} from '../store/provisioning-store';

export interface RecordedEvent extends EventInput {
  tenantId: string;
  actor: string;
  correlationId: string;
}

const NO_FACTS: TenantDatabaseFacts = {
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

/** A {@link ProvisioningStore} in memory, for unit tests of the sagas. */
export class InMemoryProvisioningStore implements ProvisioningStore {
  readonly tenants = new Map<string, TenantRecord>();
  readonly steps = new Map<string, Map<string, StepRecord>>();
  readonly events: RecordedEvent[] = [];
  /** Tenants whose change released their place on a host (TransitionPatch.releasePlace). */
  readonly releasedPlaces: string[] = [];

  addTenant(input: {
    slug: string;
    tier: TierName;
    status?: TenantStatus;
    id?: string;
    placement?: Placement;
    hostId?: string | null;
  }): TenantRecord {
    const tenant: TenantRecord = {
      id: input.id ?? randomUUID(),
      slug: input.slug,
      name: input.slug,
      tier: input.tier,
      status: input.status ?? 'PENDING',
      placement: input.placement ?? 'instance',
      hostId: input.hostId ?? null,
      provisioningRun: 1,
      sagaStartedAt: null,
      failure: null,
      database: { ...NO_FACTS },
    };
    this.tenants.set(tenant.id, tenant);
    return tenant;
  }

  getTenant(tenantId: string): Promise<TenantRecord | null> {
    const t = this.tenants.get(tenantId);
    return Promise.resolve(t ? structuredClone(t) : null);
  }

  getSteps(tenantId: string, saga: Saga): Promise<Map<string, StepRecord>> {
    const steps = this.steps.get(this.stepsKey(tenantId, saga)) ?? new Map<string, StepRecord>();
    return Promise.resolve(new Map<string, StepRecord>(structuredClone([...steps.entries()])));
  }

  transition(
    tenantId: string,
    from: TenantStatus,
    to: TenantStatus,
    patch: TransitionPatch,
    event: EventInput,
    ctx: SagaContext,
  ): Promise<void> {
    const t = this.required(tenantId);
    if (t.status !== from) return Promise.reject(new Error(`tenant ${tenantId} is no longer ${from}`));
    t.status = lifecycle(from, to);
    if (patch.sagaStartedAt !== undefined) t.sagaStartedAt = patch.sagaStartedAt;
    if (patch.failure !== undefined) t.failure = patch.failure;
    if (patch.releasePlace) this.releasedPlaces.push(tenantId);
    this.record(tenantId, event, ctx);
    const done = patch.completeStep;
    if (done) {
      return this.updateStep(tenantId, done.saga, done, stepDonePatch(done.finishedAt), done.event, ctx);
    }
    return Promise.resolve();
  }

  updateStep(
    tenantId: string,
    saga: Saga,
    step: { name: string; position: number },
    patch: Partial<Omit<StepRecord, 'step'>>,
    event: EventInput | null,
    ctx: SagaContext,
  ): Promise<void> {
    const key = this.stepsKey(tenantId, saga);
    const steps = this.steps.get(key) ?? new Map<string, StepRecord>();
    this.steps.set(key, steps);
    const current = steps.get(step.name) ?? {
      step: step.name,
      status: 'pending' as const,
      attempts: 0,
      failures: 0,
      startedAt: null,
      finishedAt: null,
      lastErrorCode: null,
      lastErrorMessage: null,
    };
    steps.set(step.name, { ...current, ...patch });
    if (event) this.record(tenantId, event, ctx);
    return Promise.resolve();
  }

  /** Steps are kept per provisioning run, as in the control-plane database. */
  private stepsKey(tenantId: string, saga: Saga): string {
    return `${tenantId}/${saga}/${this.required(tenantId).provisioningRun}`;
  }

  updateDatabaseFacts(tenantId: string, facts: Partial<TenantDatabaseFacts>): Promise<void> {
    const t = this.required(tenantId);
    t.database = { ...t.database, ...facts };
    return Promise.resolve();
  }

  private readonly locks = new Set<string>();

  async withTenantLock<T>(tenantId: string, work: () => Promise<T>): Promise<T | 'locked'> {
    if (this.locks.has(tenantId)) return 'locked';
    this.locks.add(tenantId);
    try {
      return await work();
    } finally {
      this.locks.delete(tenantId);
    }
  }

  recordFailure(
    tenantId: string,
    failure: NonNullable<TenantRecord['failure']>,
    event: EventInput,
    ctx: SagaContext,
  ): Promise<void> {
    this.required(tenantId).failure = failure;
    this.record(tenantId, event, ctx);
    return Promise.resolve();
  }

  stepStatuses(tenantId: string, saga: Saga = 'provision'): Record<string, string> {
    return Object.fromEntries(
      [...(this.steps.get(this.stepsKey(tenantId, saga)) ?? new Map<string, StepRecord>())].map(([k, v]) => [
        k,
        v.status,
      ]),
    );
  }

  private required(tenantId: string): TenantRecord {
    const t = this.tenants.get(tenantId);
    if (!t) throw new Error(`no tenant ${tenantId}`);
    return t;
  }

  private record(tenantId: string, event: EventInput, ctx: SagaContext): void {
    this.events.push({ ...event, tenantId, actor: ctx.actor, correlationId: ctx.correlationId });
  }
}
