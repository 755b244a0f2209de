import { Inject, Injectable } from '@nestjs/common';
import {
  IdempotencyKeyEntity,
  OPEN_CHANGE_STATUSES,
  TenantChangeEntity,
  TenantEntity,
} from '@silo/control-plane-db';
import {
  assertTenantSlug,
  canTransition,
  TENANT_STATUSES,
  TenantError,
  TenantErrorCode,
  transition,
  type Placement,
  type TenantStatus,
  type TierName,
} from '@silo/core';
import { DataSource, In, type EntityManager } from 'typeorm';
import {
  DEPROVISION_TENANT_JOB,
  deprovisionJobId,
  PROVISION_TENANT_JOB,
  provisionJobId,
  tierPriority,
} from '../jobs/provisioning-jobs';
import { writeOutboxJob } from '../jobs/outbox';
import { ProvisioningSettings } from '../saga/provisioning-settings';
import type { SagaContext } from '../store/provisioning-store';
import { isUniqueViolation } from '../store/unique-violation';
import { appendTenantEvent } from '../store/typeorm-provisioning-store';
import { removeRestoreCopiesNow } from '../restores/restore-copy-removal';

export interface NewTenant {
  slug: string;
  name: string;
  tier: TierName;
  /** One of SILO_REGIONS; unset: the default region (AWS_REGION). */
  region?: string;
}

/** An `Idempotency-Key` with the caller it belongs to and the hash of the request it came with. */
export interface IdempotencyClaim {
  caller: string;
  key: string;
  requestHash: string;
  ttlMs: number;
}

export interface CreatedTenant {
  tenant: TenantEntity;
  /** True when an earlier request with the same key made the tenant; no job was added now. */
  replayed: boolean;
}

/**
 * Every SWEEP_EVERY-th claim of this process also removes up to EXPIRED_KEYS_SWEPT expired keys, so the
 * table stays near one TTL of keys without a statement on every create.
 */
const SWEEP_EVERY = 20;
const EXPIRED_KEYS_SWEPT = 200;
let claimsSinceSweep = 0;

/**
 * The state changes the API makes. Each writes the tenant, its audit event and, where a saga
 * starts, the outbox row for its job in one transaction: the job is never lost and never made
 * for a change that rolled back.
 */
@Injectable()
export class TenantOnboarding {
  constructor(
    private readonly dataSource: DataSource,
    /** The tier profiles: a new tenant's placement is its tier's. */
    @Inject(ProvisioningSettings)
    private readonly settings: Pick<ProvisioningSettings, 'tiers'> &
      Partial<Pick<ProvisioningSettings, 'regions' | 'defaultRegion'>>,
  ) {}

  /** The region a new tenant lives in: the one asked for, which must be configured, or the default. */
  private regionFor(asked: string | undefined): string | null {
    const { regions, defaultRegion } = this.settings;
    if (asked === undefined) return defaultRegion ?? null;
    if (!regions?.includes(asked)) {
      const allowed = regions ?? [];
      throw new TenantError(
        TenantErrorCode.UNKNOWN_REGION,
        `region "${asked}" is not one of the configured regions (${allowed.join(', ')})`,
        undefined,
        { allowedRegions: allowed.join(',') },
      );
    }
    return asked;
  }

  /**
   * A new PENDING tenant, with its tier's placement, and its provisioning job. A taken slug is a {@link TenantError}
   * SLUG_TAKEN, decided by the unique index, so that of two racing requests exactly one wins.
   * With an idempotency claim, a key already used for the same request answers that request's
   * tenant; used for another request, IDEMPOTENCY_KEY_REUSED.
   */
  async createTenant(
    input: NewTenant,
    ctx: SagaContext,
    idempotency?: IdempotencyClaim,
  ): Promise<CreatedTenant> {
    assertTenantSlug(input.slug);
    const region = this.regionFor(input.region);
    try {
      return await this.dataSource.transaction(async (em) => {
        if (idempotency) {
          const earlier = await claimKey(em, idempotency);
          if (earlier) return { tenant: earlier, replayed: true };
        }
        const tenant = await em.getRepository(TenantEntity).save(
          em.getRepository(TenantEntity).create({
            slug: input.slug,
            name: input.name,
            tier: input.tier,
            status: 'PENDING',
            placement: this.placementOf(input.tier),
            region,
            createdBy: ctx.actor,
          }),
        );
        await appendTenantEvent(
          em,
          tenant.id,
          {
            type: 'tenant.created',
            message: `tenant ${input.slug} created (${input.tier})`,
            data: { tier: input.tier, name: input.name, region },
          },
          ctx,
        );
        await outbox(em, PROVISION_TENANT_JOB, provisionJobId(tenant.id, tenant.provisioningRun), tenant);
        if (idempotency) {
          await em.update(
            IdempotencyKeyEntity,
            { caller: idempotency.caller, key: idempotency.key },
            { tenantId: tenant.id },
          );
        }
        return { tenant, replayed: false };
      });
    } catch (error) {
      if (isUniqueViolation(error, 'tenants_slug_key')) {
        throw new TenantError(TenantErrorCode.SLUG_TAKEN, `slug "${input.slug}" is already taken`);
      }
      throw error;
    }
  }

  private placementOf(tier: TierName): Placement {
    const profile = this.settings.tiers[tier];
    if (!profile) throw new Error(`no tier profile for ${tier}`);
    return profile.placement;
  }

  /**
   * FAILED → PROVISIONING as a new run: the failure and the undone run's database facts are
   * cleared, steps start from fresh rows, and the run's own job id is queued.
   */
  retry(tenantId: string, ctx: SagaContext): Promise<TenantEntity> {
    return this.change(
      tenantId,
      'PROVISIONING',
      { action: 'retry', from: ['FAILED'] },
      async (em, tenant) => {
        const run = tenant.provisioningRun + 1;
        await em.update(
          TenantEntity,
          { id: tenant.id },
          {
            status: 'PROVISIONING',
            provisioningRun: run,
            sagaStartedAt: () => 'now()',
            failureCode: null,
            failureMessage: null,
            failureStep: null,
            ...NO_DATABASE,
            version: () => 'version + 1',
          },
        );
        await appendTenantEvent(
          em,
          tenant.id,
          {
            type: 'tenant.retry_requested',
            message: `provisioning retried (run ${run}) after ${tenant.failureCode ?? 'a failure'}`,
            data: { run, previousFailure: tenant.failureCode },
          },
          ctx,
        );
        await outbox(em, PROVISION_TENANT_JOB, provisionJobId(tenant.id, run), tenant);
      },
    );
  }

  /**
   * ACTIVE → SUSPENDED: the data plane refuses the tenant; nothing in AWS changes. The same in
   * every placement: the router gates on the status for instance, schema and pool tenants alike
   * (a pooled tenant has no login of its own to lock, so its status is all there is); a shared
   * tenant keeps its place on its host, so resuming needs nothing but the status. A schema
   * tenant's login is not made NOLOGIN here: this is one control-plane transaction with no job,
   * and a login changed outside a saga would race a credential rotation's.
   */
  suspend(tenantId: string, ctx: SagaContext): Promise<TenantEntity> {
    return this.change(tenantId, 'SUSPENDED', { action: 'suspend' }, (em, tenant) =>
      setStatus(em, tenant, 'SUSPENDED', 'tenant.suspended', `${tenant.slug} suspended`, ctx),
    );
  }

  /** SUSPENDED → ACTIVE. */
  resume(tenantId: string, ctx: SagaContext): Promise<TenantEntity> {
    return this.change(tenantId, 'ACTIVE', { action: 'resume', from: ['SUSPENDED'] }, (em, tenant) =>
      setStatus(em, tenant, 'ACTIVE', 'tenant.resumed', `${tenant.slug} resumed`, ctx),
    );
  }

  /**
   * ACTIVE, SUSPENDED or FAILED → DEPROVISIONING, and the deprovisioning job. Asking again while
   * it runs changes nothing (DELETE is idempotent).
   */
  requestDeletion(tenantId: string, ctx: SagaContext): Promise<TenantEntity> {
    return this.change(
      tenantId,
      'DEPROVISIONING',
      { action: 'delete', alreadyThere: 'DEPROVISIONING' },
      async (em, tenant) => {
        await endOpenChangeForDeletion(em, tenant, ctx);
        // No restore copy outlives its tenant: each is removed now, not at its expiry.
        const copies = await removeRestoreCopiesNow(em, tenant.id);
        if (copies.length)
          await appendTenantEvent(
            em,
            tenant.id,
            {
              type: 'tenant.restore_copy_removal_requested',
              message: `restore copies ${copies.join(', ')} removed with the tenant`,
              data: { runs: copies },
            },
            ctx,
          );
        await setStatus(
          em,
          tenant,
          'DEPROVISIONING',
          'tenant.deletion_requested',
          `deletion of ${tenant.slug} requested`,
          ctx,
          { sagaStartedAt: () => 'now()' },
        );
        await outbox(em, DEPROVISION_TENANT_JOB, deprovisionJobId(tenant.id, tenant.provisioningRun), tenant);
      },
    );
  }

  /**
   * Locks the tenant, checks that it may go to `to` (from `options.from`, or any status the
   * lifecycle lets go there), and applies `apply` in the same transaction. A missing tenant is
   * TENANT_NOT_FOUND; any other status, ILLEGAL_TRANSITION naming it.
   */
  private async change(
    tenantId: string,
    to: TenantStatus,
    options: { action: string; from?: readonly TenantStatus[]; alreadyThere?: TenantStatus },
    apply: (em: EntityManager, tenant: TenantEntity) => Promise<void>,
  ): Promise<TenantEntity> {
    const from = options.from ?? TENANT_STATUSES.filter((s) => canTransition(s, to));
    return this.dataSource.transaction(async (em) => {
      const tenants = em.getRepository(TenantEntity);
      const tenant = await tenants.findOne({ where: { id: tenantId }, lock: { mode: 'pessimistic_write' } });
      if (!tenant) throw new TenantError(TenantErrorCode.TENANT_NOT_FOUND, `no tenant ${tenantId}`);
      if (tenant.status === options.alreadyThere) return tenant;
      if (!from.includes(tenant.status)) {
        throw new TenantError(
          TenantErrorCode.ILLEGAL_TRANSITION,
          `${tenant.slug} is ${tenant.status}; ${options.action} needs ${from.join(' or ')}.`,
          tenant.status,
        );
      }
      transition(tenant.status, to);
      await apply(em, tenant);
      return tenants.findOneByOrFail({ id: tenantId });
    });
  }
}

/**
 * A running change holds the tenant (TENANT_BUSY): deleting the instance under ModifyDBInstance
 * would race it. One only waiting for the maintenance window ends here, FAILED, superseded.
 */
async function endOpenChangeForDeletion(
  em: EntityManager,
  tenant: TenantEntity,
  ctx: SagaContext,
): Promise<void> {
  const open = await em
    .getRepository(TenantChangeEntity)
    .findOneBy({ tenantId: tenant.id, status: In([...OPEN_CHANGE_STATUSES]) });
  if (!open) return;
  if (open.status === 'RUNNING') {
    throw new TenantError(
      TenantErrorCode.TENANT_BUSY,
      `${tenant.slug} has a ${open.kind === 'tier' ? 'tier change' : 'credential rotation'} running (change ${open.run}); delete it once that ends`,
      undefined,
      { heldBy: 'change', tenant: tenant.slug },
    );
  }
  await em.update(
    TenantChangeEntity,
    { tenantId: tenant.id, run: open.run },
    {
      status: 'FAILED',
      errorCode: 'SUPERSEDED',
      errorMessage: 'the tenant is being deleted',
      errorStep: 'wait-modified',
      finishedAt: () => 'now()',
      updatedAt: () => 'now()',
    },
  );
  await appendTenantEvent(
    em,
    tenant.id,
    {
      type: 'tenant.change_failed',
      message: `the pending tier change ${open.from} → ${open.to} ends: the tenant is being deleted`,
      data: { run: open.run, code: 'SUPERSEDED' },
    },
    ctx,
  );
}

const NO_DATABASE = {
  dbInstanceIdentifier: null,
  dbInstanceClass: null,
  dbEngine: null,
  dbEngineVersion: null,
  dbMultiAz: null,
  dbStorageEncrypted: null,
  dbEndpointHost: null,
  dbEndpointPort: null,
  dbName: null,
  masterSecretArn: null,
  appSecretArn: null,
  schemaVersion: null,
} satisfies Partial<TenantEntity>;

async function setStatus(
  em: EntityManager,
  tenant: TenantEntity,
  to: TenantStatus,
  type: string,
  message: string,
  ctx: SagaContext,
  extra: { sagaStartedAt?: () => string } = {},
): Promise<void> {
  await em.update(TenantEntity, { id: tenant.id }, { status: to, ...extra, version: () => 'version + 1' });
  await appendTenantEvent(em, tenant.id, { type, message, data: { from: tenant.status, to } }, ctx);
}

/**
 * Claims `claim.key` for this request, or returns the tenant an earlier request with the same
 * key made. A concurrent request holding the key makes this wait for its transaction: if it
 * commits, this one replays it; if it rolls back, this one claims the key.
 */
async function claimKey(em: EntityManager, claim: IdempotencyClaim): Promise<TenantEntity | null> {
  if (++claimsSinceSweep >= SWEEP_EVERY) {
    claimsSinceSweep = 0;
    await sweepExpiredKeys(em, claim);
  }
  const claimed = await em.query<unknown[]>(
    `INSERT INTO idempotency_keys (caller, key, request_hash, expires_at)
     VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')
     ON CONFLICT (caller, key) DO UPDATE
       SET request_hash = EXCLUDED.request_hash, tenant_id = NULL, created_at = now(),
           expires_at = EXCLUDED.expires_at
       WHERE idempotency_keys.expires_at <= now()
     RETURNING key`,
    [claim.caller, claim.key, claim.requestHash, claim.ttlMs],
  );
  if (claimed.length) return null;

  const earlier = await em.findOneByOrFail(IdempotencyKeyEntity, { caller: claim.caller, key: claim.key });
  if (earlier.requestHash !== claim.requestHash) {
    throw new TenantError(
      TenantErrorCode.IDEMPOTENCY_KEY_REUSED,
      'this Idempotency-Key was already used with a different request body',
    );
  }
  return em.findOneByOrFail(TenantEntity, { id: earlier.tenantId! });
}

async function sweepExpiredKeys(em: EntityManager, claim: IdempotencyClaim): Promise<void> {
  await em.query(
    `DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
       SELECT ctid FROM idempotency_keys WHERE expires_at <= now() AND NOT (caller = $1 AND key = $2)
       LIMIT ${EXPIRED_KEYS_SWEPT} FOR UPDATE SKIP LOCKED))`,
    [claim.caller, claim.key],
  );
}

function outbox(em: EntityManager, jobName: string, jobId: string, tenant: TenantEntity): Promise<void> {
  return writeOutboxJob(em, {
    name: jobName,
    id: jobId,
    payload: { tenantId: tenant.id },
    priority: tierPriority(tenant.tier),
  });
}
