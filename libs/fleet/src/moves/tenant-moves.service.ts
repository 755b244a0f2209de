import { Injectable } from '@nestjs/common';
import { TenantChangeEntity, TenantEntity } from '@silo/control-plane-db';
import {
  isPlacement,
  isTierName,
  tenantResourceNames,
  TenantError,
  TenantErrorCode,
  type Placement,
  type TierName,
} from '@silo/core';
import { DataSource } from 'typeorm';
import { openChange } from '../changes/tenant-changes.service';
import { ProvisioningSettings } from '../saga/provisioning-settings';
import type { SagaContext } from '../store/provisioning-store';
import { appendTenantEvent } from '../store/typeorm-provisioning-store';
import { moveSupported, placeLabel, type MovePlan, type MoveRequest, type TenantPlace } from './move-plan';

/** The secret a move's target app login waits in when the tenant's own name is taken in that region. */
export const MOVE_APP_SECRET_SUFFIX = '-move';

function refused(rule: string, message: string, detail: Record<string, string> = {}): TenantError {
  return new TenantError(TenantErrorCode.CHANGE_REFUSED, message, undefined, { rule, ...detail });
}

/**
 * Starts and aborts moves of live tenants (a change of kind `move`, run by the worker's
 * MoveSaga). A move is planned here against the tenant as recorded and the tier profiles, so
 * that one Silo cannot make is refused with 422 naming the rule and nothing is recorded.
 */
@Injectable()
export class TenantMoves {
  constructor(
    private readonly dataSource: DataSource,
    private readonly settings: ProvisioningSettings,
  ) {}

  /** Plans the move of `tenantId` to `request`'s place; see {@link planMove} for what is refused. */
  async requestMove(tenantId: string, request: MoveRequest, ctx: SagaContext): Promise<TenantEntity> {
    const before = await this.dataSource.getRepository(TenantEntity).findOneBy({ id: tenantId });
    if (!before) throw new TenantError(TenantErrorCode.TENANT_NOT_FOUND, `no tenant ${tenantId}`);
    const plan = this.plan(before, request);
    // The source of an earlier move, kept frozen until its removal, holds the tenant's names and
    // rows there: a move back before it is removed would meet them.
    const [retained] = await this.dataSource.query<Array<{ run: number; due: string | null; from: string }>>(
      `SELECT run, plan->>'sourceRemovalDueAt' AS due, from_value AS "from" FROM tenant_changes
        WHERE tenant_id = $1 AND kind = 'move' AND status = 'SUCCEEDED'
          AND coalesce((plan->>'switched')::boolean, false) AND NOT coalesce((plan->>'sourceRemoved')::boolean, false)
        ORDER BY run DESC LIMIT 1`,
      [tenantId],
    );
    if (retained)
      throw refused(
        'source-retained',
        `${before.slug}'s source of move ${retained.run} (${retained.from}) is kept until ${retained.due ?? 'its retention ends'} ` +
          '(MOVE_SOURCE_RETENTION_HOURS) and removed then; move the tenant again once it is',
        { run: String(retained.run), ...(retained.due && { dueAt: retained.due }) },
      );
    return openChange(this.dataSource, before, ctx, 'a move', {
      kind: 'move',
      from: placeLabel(plan.from),
      to: placeLabel(plan.to),
      apply: 'now',
      plan: { ...plan },
      event: {
        type: 'tenant.change_requested',
        message: `move ${placeLabel(plan.from)} (${plan.from.tier}) → ${placeLabel(plan.to)} (${plan.to.tier}) requested`,
        data: { kind: 'move', from: { ...plan.from }, to: { ...plan.to } },
      },
      stillValid: (tenant) =>
        tenant.placement === before.placement &&
        tenant.hostId === before.hostId &&
        tenant.tier === before.tier &&
        tenant.region === before.region &&
        tenant.schemaVersion === before.schemaVersion,
    });
  }

  /**
   * Asks a running move to stop: before its cut-over it removes the target and leaves the tenant
   * where it is (FAILED, code MOVE_ABORTED). 409 once the cut-over has begun: after the switch,
   * moving back is another move.
   */
  async abortMove(tenantId: string, ctx: SagaContext): Promise<TenantEntity> {
    return this.dataSource.transaction(async (em) => {
      const tenant = await em
        .getRepository(TenantEntity)
        .findOne({ where: { id: tenantId }, lock: { mode: 'pessimistic_write' } });
      if (!tenant) throw new TenantError(TenantErrorCode.TENANT_NOT_FOUND, `no tenant ${tenantId}`);
      const change = await em
        .getRepository(TenantChangeEntity)
        .findOne({ where: { tenantId, run: tenant.changeRun }, lock: { mode: 'pessimistic_write' } });
      if (!change || change.kind !== 'move' || change.status !== 'RUNNING')
        throw new TenantError(TenantErrorCode.ILLEGAL_TRANSITION, `${tenant.slug} has no move running`);
      const steps = await em.query<Array<{ step: string }>>(
        `SELECT step FROM provisioning_steps WHERE tenant_id = $1 AND saga = 'move' AND run = $2 AND step = 'cut-over' AND status IN ('running', 'done', 'waiting')`,
        [tenantId, change.run],
      );
      if (steps.length > 0 || tenant.writesPausedAt)
        throw new TenantError(
          TenantErrorCode.TENANT_BUSY,
          `${tenant.slug}'s move has begun its cut-over and cannot be aborted; once it has switched, moving back is another move`,
          undefined,
          { heldBy: 'change', tenant: tenant.slug },
        );
      const plan = change.plan as unknown as MovePlan;
      if (!plan.abortRequested) {
        await em.query(
          `UPDATE tenant_changes SET plan = jsonb_set(plan, '{abortRequested}', 'true'), updated_at = now() WHERE tenant_id = $1 AND run = $2`,
          [tenantId, change.run],
        );
        await appendTenantEvent(
          em,
          tenantId,
          { type: 'tenant.move_abort_requested', message: 'move abort requested', data: { run: change.run } },
          ctx,
        );
      }
      return tenant;
    });
  }

  /**
   * The move's plan, or the refusal: an unknown tier or region; a placement the target tier does
   * not place tenants in (the placement follows the tier); nothing that would change; a tier
   * change that keeps the place (that is `…/tier`); a pair of placements Silo does not move
   * between; a tenant whose schema version is unknown.
   */
  plan(tenant: TenantEntity, request: MoveRequest): MovePlan {
    const { settings } = this;
    if (request.tier !== undefined && !isTierName(request.tier))
      throw refused('tier-unknown', `${JSON.stringify(request.tier)} is not a tier`);
    if (request.placement !== undefined && !isPlacement(request.placement))
      throw refused('placement-unknown', `${JSON.stringify(request.placement)} is not a placement`);
    const tier: TierName = request.tier ?? tenant.tier;
    const profile = settings.tiers[tier];
    const placement: Placement = request.placement ?? profile.placement;
    if (placement !== profile.placement)
      throw refused(
        'placement-of-tier',
        `the ${tier} tier places its tenants in the ${profile.placement} placement, not ${placement}: ` +
          `name a tier whose placement is ${placement}`,
        { tier, tierPlacement: profile.placement, placement },
      );
    const sourceRegion = tenant.region ?? settings.defaultRegion;
    const region = request.region ?? sourceRegion;
    if (!settings.regions.includes(region))
      throw new TenantError(
        TenantErrorCode.UNKNOWN_REGION,
        `${region} is not one of the configured regions (${settings.regions.join(', ')})`,
        undefined,
        { allowedRegions: settings.regions.join(',') },
      );
    const from: TenantPlace = {
      placement: tenant.placement,
      region: sourceRegion,
      tier: tenant.tier,
      hostId: tenant.hostId,
    };
    const to: TenantPlace = { placement, region, tier, hostId: null };
    // Hosts are a tier's: a pooled tenant of a new pool tier moves to a host of that tier.
    const betweenPools = from.placement === 'pool' && to.placement === 'pool' && from.tier !== to.tier;
    if (from.placement === to.placement && from.region === to.region && !betweenPools) {
      if (from.tier !== to.tier)
        throw refused(
          'not-a-move',
          `the ${tier} tier keeps ${tenant.slug} in the ${placement} placement in ${region}: that is a tier change (PATCH /v1/tenants/${tenant.id} with its tier)`,
        );
      throw refused('same-place', `${tenant.slug} already lives in the ${placement} placement in ${region}`);
    }
    const supported = moveSupported(from.placement, to.placement);
    if (!supported.ok)
      throw refused('move-not-supported', supported.why, {
        fromPlacement: from.placement,
        toPlacement: to.placement,
      });
    if (!tenant.schemaVersion)
      throw refused(
        'schema-version-unknown',
        `${tenant.slug} has no schema version recorded; a move copies a migrated schema`,
      );
    const names = tenantResourceNames(settings.prefix, tenant.slug);
    // The tenant's own secret names are taken in the target's region when its source is there with a login of its own.
    const sourceHasOwnSecrets = from.placement !== 'pool' && from.region === to.region;
    return {
      from,
      to,
      targetInstance: to.placement === 'instance' ? names.instanceIdentifier : null,
      targetAppSecret:
        to.placement === 'pool'
          ? null
          : sourceHasOwnSecrets
            ? `${names.appSecretName}${MOVE_APP_SECRET_SUFFIX}`
            : names.appSecretName,
      targetMasterSecret: to.placement === 'instance' ? names.masterSecretName : null,
      targetFacts: {},
      abortRequested: false,
      cutOver: null,
      sourceRemovalDueAt: null,
    };
  }
}
