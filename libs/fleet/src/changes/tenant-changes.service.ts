import { Injectable } from '@nestjs/common';
import { RdsInstances, type InstanceView } from '@silo/aws';
import {
  HostEntity,
  OPEN_CHANGE_STATUSES,
  SchemaRolloutTenantEntity,
  TenantChangeEntity,
  TenantEntity,
  type ChangeApply,
  type ChangeKind,
} from '@silo/control-plane-db';
import { isTierName, TenantError, TenantErrorCode, type TierName } from '@silo/core';
import { DataSource, In, type EntityManager } from 'typeorm';
import { writeOutboxJob } from '../jobs/outbox';
import { changeJob, tierPriority } from '../jobs/provisioning-jobs';
import { ProvisioningSettings } from '../saga/provisioning-settings';
import type { SagaContext } from '../store/provisioning-store';
import { appendTenantEvent } from '../store/typeorm-provisioning-store';
import { isUniqueViolation } from '../store/unique-violation';
import type { RotationTarget } from './rotation-saga';
import {
  PlacementChangeRefused,
  placementOfTierChange,
  planSharedTierChange,
  planTierChange,
  TierChangeRefused,
  type InstanceShape,
  type SharedTierChangePlan,
  type TierChangePlan,
} from './tier-change-plan';

/** Statuses in which a tenant is served and may be changed. */
const CHANGEABLE = ['ACTIVE', 'SUSPENDED'] as const;

/** The instance as RDS will have it once its pending values apply. */
export function shapeOf(view: InstanceView): InstanceShape {
  const p = view.pending;
  return {
    instanceClass: p.instanceClass ?? view.instanceClass,
    allocatedGiB: p.allocatedGiB ?? view.allocatedGiB,
    iops: p.iops ?? view.iops,
    throughputMiBps: p.throughputMiBps ?? view.throughputMiBps,
    multiAz: p.multiAz ?? view.multiAz,
    deletionProtection: view.deletionProtection,
    backupRetentionDays: p.backupRetentionDays ?? view.backupRetentionDays,
    performanceInsights: view.performanceInsights,
  };
}

/**
 * Starts changes to live tenants. A tier change to a tier of another placement is refused first
 * (PLACEMENT_CHANGE_NOT_SUPPORTED: that is a promotion). One on the tenant's own instance is
 * planned against the instance as RDS describes it now, so that a change RDS would refuse is
 * refused here (CHANGE_REFUSED naming the rule) and nothing is recorded; one of a schema or pool
 * tenant keeps it on its host and is refused when the new tier sizes its hosts differently. An
 * accepted change is a change row, its event and its job, in one transaction.
 */
@Injectable()
export class TenantChanges {
  constructor(
    private readonly dataSource: DataSource,
    private readonly rds: RdsInstances,
    private readonly settings: ProvisioningSettings,
  ) {}

  async requestTierChange(
    tenantId: string,
    request: { tier: TierName; apply: ChangeApply },
    ctx: SagaContext,
  ): Promise<TenantEntity> {
    const before = await this.dataSource.getRepository(TenantEntity).findOneBy({ id: tenantId });
    if (!before) throw new TenantError(TenantErrorCode.TENANT_NOT_FOUND, `no tenant ${tenantId}`);
    await assertChangeable(this.dataSource.manager, before, 'a tier change');
    this.assertSamePlacement(before, request.tier);
    if (before.placement !== 'instance') return this.requestSharedTierChange(before, request, ctx);
    const identifier = before.dbInstanceIdentifier;
    const rds = this.rds.inRegion(before.region ?? this.settings.defaultRegion);
    const view = identifier ? await rds.describe(identifier) : null;
    if (!view) {
      throw new TenantError(
        TenantErrorCode.CHANGE_REFUSED,
        `RDS has no instance ${identifier ?? '(none recorded)'} for ${before.slug}; the reconciler reports it`,
        undefined,
        { rule: 'instance-missing' },
      );
    }
    const plan = this.plan(before, view, request.tier);

    return openChange(this.dataSource, before, ctx, 'a tier change', {
      kind: 'tier',
      from: before.tier,
      to: request.tier,
      apply: request.apply,
      plan: { ...plan },
      event: {
        type: 'tenant.change_requested',
        message: `tier change ${before.tier} → ${request.tier} requested (${request.apply})`,
        data: { kind: 'tier', from: before.tier, to: request.tier, apply: request.apply, notes: plan.notes },
      },
      // Re-checked under the row lock: the plan was made from the tier read before the AWS call.
      stillValid: (tenant) => tenant.tier === before.tier,
    });
  }

  /**
   * A tier change of a schema or pool tenant: it keeps its host, so the `to` tier must size its
   * hosts as the tenant's host is sized (planSharedTierChange); nothing is asked of RDS. The change
   * is re-checked under the row lock against the tier and host it was planned for.
   */
  private async requestSharedTierChange(
    before: TenantEntity,
    request: { tier: TierName; apply: ChangeApply },
    ctx: SagaContext,
  ): Promise<TenantEntity> {
    const host = before.hostId
      ? await this.dataSource.getRepository(HostEntity).findOneBy({ id: before.hostId })
      : null;
    if (!host || host.status !== 'available') {
      throw new TenantError(
        TenantErrorCode.CHANGE_REFUSED,
        host
          ? `${before.slug}'s host ${host.name} is ${host.status}; a tier change needs it available`
          : `${before.slug} is a ${before.placement} tenant placed on no host; the reconciler reports it`,
        undefined,
        { rule: 'host-not-available' },
      );
    }
    const hostTier = isTierName(host.tier) ? this.settings.tiers[host.tier] : undefined;
    if (!hostTier || hostTier.placement !== host.placement) {
      throw new TenantError(
        TenantErrorCode.CHANGE_REFUSED,
        `host ${host.name} was sized by tier ${host.tier}, which no longer places tenants on ${host.placement} hosts; ` +
          'its sizing cannot be compared with the new tier',
        undefined,
        { rule: 'host-sizing-unknown' },
      );
    }
    let plan: SharedTierChangePlan;
    try {
      plan = planSharedTierChange({
        from: { tier: before.tier, placement: host.placement },
        to: this.settings.tiers[request.tier],
        host: {
          name: host.name,
          profile: hostTier,
          capacity: { tenantsPerHost: host.capacityTenants, connectionBudget: host.connectionBudget },
        },
      });
    } catch (error) {
      if (!(error instanceof TierChangeRefused)) throw error;
      throw new TenantError(TenantErrorCode.CHANGE_REFUSED, error.message, undefined, {
        rule: error.rule,
        host: host.name,
      });
    }
    if (request.apply === 'maintenance-window') {
      plan.notes.push('applied at once: nothing waits for a maintenance window when no instance is modified');
    }
    return openChange(this.dataSource, before, ctx, 'a tier change', {
      kind: 'tier',
      from: before.tier,
      to: request.tier,
      apply: request.apply,
      plan: { ...plan },
      event: {
        type: 'tenant.change_requested',
        message: `tier change ${before.tier} → ${request.tier} requested (${request.apply}); the tenant stays on host ${host.name}`,
        data: {
          kind: 'tier',
          from: before.tier,
          to: request.tier,
          apply: request.apply,
          host: host.name,
          notes: plan.notes,
        },
      },
      stillValid: (tenant) => tenant.tier === before.tier && tenant.hostId === before.hostId,
    });
  }

  /**
   * A credential rotation of the app secret, the master secret or both (omitted: every credential
   * the tenant has of its own), run by the worker by Secrets Manager's rotation protocol. 409 while
   * something else holds the tenant; 422 for what the tenant does not own (see {@link requestRotation}).
   */
  async requestRotation(
    tenantId: string,
    which: RotationTarget | undefined,
    ctx: SagaContext,
  ): Promise<TenantEntity> {
    const tenant = await this.dataSource.getRepository(TenantEntity).findOneBy({ id: tenantId });
    if (!tenant) throw new TenantError(TenantErrorCode.TENANT_NOT_FOUND, `no tenant ${tenantId}`);
    return requestRotation(this.dataSource, tenant, which, ctx);
  }

  /**
   * Before RDS is asked anything: a tenant without an instance of its own has none to describe.
   * The tenant's own placement counts, not its tier's: a tier's placement may have changed since
   * the tenant was placed.
   */
  private assertSamePlacement(tenant: TenantEntity, to: TierName): void {
    try {
      placementOfTierChange({ tier: tenant.tier, placement: tenant.placement }, this.settings.tiers[to]);
    } catch (error) {
      if (error instanceof PlacementChangeRefused) {
        throw new TenantError(TenantErrorCode.PLACEMENT_CHANGE_NOT_SUPPORTED, error.message, undefined, {
          rule: 'placement-change',
          fromPlacement: error.from,
          toPlacement: error.to.placement,
        });
      }
      if (error instanceof TierChangeRefused) {
        throw new TenantError(TenantErrorCode.CHANGE_REFUSED, error.message, undefined, { rule: error.rule });
      }
      throw error;
    }
  }

  private plan(tenant: TenantEntity, view: InstanceView, to: TierName): TierChangePlan {
    try {
      return planTierChange({
        from: tenant.tier,
        to: this.settings.tiers[to],
        current: shapeOf(view),
        status: view.status,
        lastStorageChangeAt: tenant.storageModifiedAt,
        now: new Date(),
      });
    } catch (error) {
      if (!(error instanceof TierChangeRefused)) throw error;
      throw new TenantError(TenantErrorCode.CHANGE_REFUSED, error.message, undefined, { rule: error.rule });
    }
  }
}

/**
 * A credential rotation of `tenant` opened: the change row, its event and its job. What is
 * rotated is what the tenant owns: an instance tenant's app login and master user (`which`, all of
 * them when omitted); a schema tenant's app login only, on its host, since the host's master user
 * serves every tenant there (`master` or `both` are refused, `host-master-credentials`). A pooled
 * tenant has no login of its own: the data plane reaches it with its host's pool login, rotated
 * for all the host's tenants at once by the host's rotation (`host-pool-login`).
 */
export async function requestRotation(
  dataSource: DataSource,
  tenant: TenantEntity,
  which: RotationTarget | undefined,
  ctx: SagaContext,
): Promise<TenantEntity> {
  const host = tenant.hostId
    ? await dataSource.getRepository(HostEntity).findOneBy({ id: tenant.hostId })
    : null;
  const target = rotationTargetOf(tenant, host, which);
  return openChange(dataSource, tenant, ctx, 'a credential rotation', {
    kind: 'rotation',
    from: 'current',
    to: target,
    apply: 'now',
    plan: {},
    event: {
      type: 'tenant.change_requested',
      message: `credential rotation requested (${target})`,
      data: { kind: 'rotation', which: target, ...(host && { host: host.name }) },
    },
    stillValid: (locked) => locked.placement === tenant.placement,
  });
}

/** What a rotation of `tenant` rotates, or the refusal naming why it cannot be rotated so. */
function rotationTargetOf(
  tenant: TenantEntity,
  host: HostEntity | null,
  which: RotationTarget | undefined,
): RotationTarget {
  switch (tenant.placement) {
    case 'instance':
      return which ?? 'both';
    case 'schema':
      if (which === undefined || which === 'app') return 'app';
      throw new TenantError(
        TenantErrorCode.CHANGE_REFUSED,
        `${tenant.slug} is a schema tenant on host ${host?.name ?? '(none recorded)'}: its master user is the host's, ` +
          `shared by every tenant there, and a tenant's rotation never changes it; rotate the tenant's own login ` +
          `with which: app (the default for a schema tenant)`,
        undefined,
        { rule: 'host-master-credentials', ...(host && { hostId: host.id, host: host.name }) },
      );
    case 'pool':
      throw new TenantError(
        TenantErrorCode.CHANGE_REFUSED,
        host
          ? `${tenant.slug} is a pooled tenant: it has no login of its own; the data plane reaches its rows ` +
              `with the pool login of host ${host.name}, which every tenant on that host shares. Rotate that ` +
              `login, for all of them at once, with POST /v1/hosts/${host.id}/rotate-credentials (sre or admin)`
          : `${tenant.slug} is a pooled tenant placed on no host: it has no login to rotate`,
        undefined,
        { rule: 'host-pool-login', ...(host && { hostId: host.id, host: host.name }) },
      );
  }
}

/** The change row, its event and its job in one transaction, the tenant locked and checked again. */
export async function openChange(
  dataSource: DataSource,
  before: TenantEntity,
  ctx: SagaContext,
  what: string,
  change: {
    kind: ChangeKind;
    from: string;
    to: string;
    apply: ChangeApply;
    plan: Record<string, unknown>;
    event: { type: string; message: string; data: Record<string, unknown> };
    stillValid: (tenant: TenantEntity) => boolean;
    /** What the locked tenant must be for the change; default ACTIVE or SUSPENDED, nothing open (assertChangeable). */
    assert?: (tenant: TenantEntity) => void;
    /** The 409's message when another change of the tenant is open. */
    alreadyOpen?: string;
  },
): Promise<TenantEntity> {
  try {
    return await dataSource.transaction(async (em) => {
      const tenant = await em
        .getRepository(TenantEntity)
        .findOne({ where: { id: before.id }, lock: { mode: 'pessimistic_write' } });
      if (!tenant) throw new TenantError(TenantErrorCode.TENANT_NOT_FOUND, `no tenant ${before.id}`);
      if (change.assert) change.assert(tenant);
      else await assertChangeable(em, tenant, what);
      if (!change.stillValid(tenant)) {
        throw new TenantError(
          TenantErrorCode.TENANT_BUSY,
          `${tenant.slug} changed while this request was checked; ask again`,
          undefined,
          { heldBy: 'change', tenant: tenant.slug },
        );
      }
      const run = tenant.changeRun + 1;
      await em.update(TenantEntity, { id: tenant.id }, { changeRun: run, version: () => 'version + 1' });
      const changes = em.getRepository(TenantChangeEntity);
      await changes.save(
        changes.create({
          tenantId: tenant.id,
          run,
          kind: change.kind,
          from: change.from,
          to: change.to,
          apply: change.apply,
          status: 'RUNNING',
          plan: change.plan,
          requestedBy: ctx.actor,
          correlationId: ctx.correlationId,
        }),
      );
      await appendTenantEvent(em, tenant.id, { ...change.event, data: { ...change.event.data, run } }, ctx);
      const job = changeJob(change.kind, tenant.id, run);
      await writeOutboxJob(em, {
        ...job,
        payload: { tenantId: tenant.id },
        priority: tierPriority(tenant.tier),
      });
      return em.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id });
    });
  } catch (error) {
    if (isUniqueViolation(error, 'tenant_changes_one_open')) {
      throw busy(before.slug, 'change', change.alreadyOpen ?? 'another change of this tenant is open');
    }
    throw error;
  }
}

/** ACTIVE or SUSPENDED, no open change, no rollout migrating it right now. */
async function assertChangeable(em: EntityManager, tenant: TenantEntity, what: string): Promise<void> {
  if (!(CHANGEABLE as readonly string[]).includes(tenant.status)) {
    if (tenant.status === 'DEPROVISIONING') {
      throw busy(tenant.slug, 'deprovisioning', `${tenant.slug} is being deleted`);
    }
    throw new TenantError(
      TenantErrorCode.ILLEGAL_TRANSITION,
      `${tenant.slug} is ${tenant.status}; ${what} needs ACTIVE or SUSPENDED.`,
      tenant.status,
    );
  }
  const open = await em
    .getRepository(TenantChangeEntity)
    .findOneBy({ tenantId: tenant.id, status: In([...OPEN_CHANGE_STATUSES]) });
  if (open) {
    throw busy(
      tenant.slug,
      'change',
      `${tenant.slug} has a ${{ tier: `tier change to ${open.to}`, rotation: 'credential rotation', move: `move to ${open.to}`, restore: `restore (${open.to})`, undelete: 'undelete' }[open.kind]} ` +
        `${open.status === 'RUNNING' ? 'running' : 'waiting for the maintenance window'} (change ${open.run})`,
    );
  }
  const migrating = await em
    .getRepository(SchemaRolloutTenantEntity)
    .findOneBy({ tenantId: tenant.id, state: 'running' });
  if (migrating) {
    throw busy(
      tenant.slug,
      'rollout',
      `schema rollout ${migrating.rolloutId} is migrating ${tenant.slug} right now; try again when it is done`,
    );
  }
}

function busy(slug: string, heldBy: 'change' | 'rollout' | 'deprovisioning', message: string): TenantError {
  return new TenantError(TenantErrorCode.TENANT_BUSY, message, undefined, { heldBy, tenant: slug });
}
