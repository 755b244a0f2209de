import type { Placement, TenantStatus, TierName } from '@silo/core';

export type Saga = 'provision' | 'deprovision' | 'modify' | 'rotate' | 'move' | 'restore' | 'undelete';
export type StepStatus = 'pending' | 'running' | 'waiting' | 'done' | 'failed' | 'compensated';

/** What the sagas know of a tenant. Never a password. */
export interface TenantRecord {
  id: string;
  slug: string;
  name: string;
  tier: TierName;
  status: TenantStatus;
  /** Where the tenant's data lives, recorded from its tier's profile at onboarding. */
  placement: Placement;
  /** The shared host it is placed on (`schema`, `pool`); null for an instance tenant or one not placed. */
  hostId: string | null;
  /** Its AWS region; null (a tenant made before regions existed): the default region (see regionOf). */
  region?: string | null;
  provisioningRun: number;
  sagaStartedAt: Date | null;
  failure: { code: string; message: string; step: string } | null;
  database: TenantDatabaseFacts;
}

export interface TenantDatabaseFacts {
  instanceIdentifier: string | null;
  instanceClass: string | null;
  engine: string | null;
  engineVersion: string | null;
  multiAz: boolean | null;
  storageEncrypted: boolean | null;
  endpointHost: string | null;
  endpointPort: number | null;
  databaseName: string | null;
  masterSecretArn: string | null;
  appSecretArn: string | null;
  schemaVersion: string | null;
}

export interface StepRecord {
  step: string;
  status: StepStatus;
  /** Passes through the step, waits included. */
  attempts: number;
  /** Retryable failures; only these use up the step's retry budget. */
  failures: number;
  startedAt: Date | null;
  finishedAt: Date | null;
  lastErrorCode: string | null;
  lastErrorMessage: string | null;
}

/** An audit-trail line; `actor` and `correlationId` come from the saga's context. */
export interface EventInput {
  type: string;
  message: string;
  data?: Record<string, unknown>;
}

/**
 * A step marked done in the same transaction as a status change, for the steps whose work is
 * that change (activate, mark-deleted): a crash can then never leave one without the other.
 */
export interface StepCompletion {
  saga: Saga;
  name: string;
  position: number;
  finishedAt: Date;
  event: EventInput;
}

/** The fields of a step's row once it is done: one definition for every path that records it. */
export function stepDonePatch(finishedAt: Date): Partial<Omit<StepRecord, 'step'>> {
  return { status: 'done', finishedAt, lastErrorCode: null, lastErrorMessage: null };
}

/** What a status change also sets, in the same transaction. */
export interface TransitionPatch {
  sagaStartedAt?: Date | null;
  failure?: TenantRecord['failure'];
  completeStep?: StepCompletion;
  /**
   * A shared tenant leaving its host (to DELETED): under the host's placements lock, and when no
   * tenant counts against the host any more, its `empty_since` is recorded with the change.
   */
  releasePlace?: true;
}

/** The logging a saga does (a pino logger bound to the tenant and job fits). */
export interface SagaLog {
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface SagaContext {
  /** `system:worker` for the worker; a JWT sub for API-initiated work. */
  actor: string;
  /** The job id (or request id) the work belongs to. */
  correlationId: string;
}

/**
 * The control-plane state the sagas read and write. Each write that comes with an event writes
 * both in one transaction.
 */
export interface ProvisioningStore {
  getTenant(tenantId: string): Promise<TenantRecord | null>;
  getSteps(tenantId: string, saga: Saga): Promise<Map<string, StepRecord>>;
  /** Moves the tenant from `from` to `to` (only if it is still in `from`) and appends the event. */
  transition(
    tenantId: string,
    from: TenantStatus,
    to: TenantStatus,
    patch: TransitionPatch,
    event: EventInput,
    ctx: SagaContext,
  ): Promise<void>;
  updateStep(
    tenantId: string,
    saga: Saga,
    step: { name: string; position: number },
    patch: Partial<Omit<StepRecord, 'step'>>,
    event: EventInput | null,
    ctx: SagaContext,
  ): Promise<void>;
  updateDatabaseFacts(tenantId: string, facts: Partial<TenantDatabaseFacts>): Promise<void>;
  /**
   * Runs `work` holding the tenant's lock (a PostgreSQL session advisory lock, freed if the
   * holder dies), so that two workers never run passes for one tenant at once; 'locked' when
   * another holder has it.
   */
  withTenantLock<T>(tenantId: string, work: () => Promise<T>): Promise<T | 'locked'>;
  /** Records why provisioning failed; compensation then runs before the tenant becomes FAILED. */
  recordFailure(
    tenantId: string,
    failure: NonNullable<TenantRecord['failure']>,
    event: EventInput,
    ctx: SagaContext,
  ): Promise<void>;
}
