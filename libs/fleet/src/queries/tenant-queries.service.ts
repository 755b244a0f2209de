import { Inject, Injectable, Optional } from '@nestjs/common';
import {
  ProvisioningStepEntity,
  ReconcileFindingEntity,
  TenantChangeEntity,
  TenantEntity,
  TenantEventEntity,
} from '@silo/control-plane-db';
import { slugProblem, type TenantStatus, type TierName, isTenantId } from '@silo/core';
import { DataSource, type SelectQueryBuilder } from 'typeorm';
import { ProvisioningSettings } from '../saga/provisioning-settings';
import { IN_CURRENT_CHANGE, IN_CURRENT_RUN } from '../store/typeorm-provisioning-store';

/** Where a page of the tenant list ends: the last tenant's creation time (µs) and id. */
export interface TenantCursor {
  createdAtMicros: bigint;
  id: string;
}

export interface TenantListQuery {
  statuses?: readonly TenantStatus[];
  tiers?: readonly TierName[];
  regions?: readonly string[];
  limit: number;
  after?: TenantCursor;
}

/** A tenant's latest change and its steps. */
export interface TenantChangeDetail {
  change: TenantChangeEntity;
  steps: ProvisioningStepEntity[];
}

export interface TenantPage {
  items: TenantEntity[];
  /** Set when more tenants follow the last item. */
  next: TenantCursor | null;
}

/** Read side of the control plane for the API. */
@Injectable()
export class TenantQueries {
  constructor(
    private readonly dataSource: DataSource,
    /** For the default region of a tenant whose `region` is NULL (made before regions, not yet pinned). */
    @Optional()
    @Inject(ProvisioningSettings)
    private readonly settings?: Pick<ProvisioningSettings, 'defaultRegion'>,
  ) {}

  /** By UUID or by slug; null for anything else, including strings that are neither. */
  async findByIdOrSlug(idOrSlug: string): Promise<TenantEntity | null> {
    const tenants = this.dataSource.getRepository(TenantEntity);
    if (isTenantId(idOrSlug)) return this.withRegion(await tenants.findOneBy({ id: idOrSlug.toLowerCase() }));
    if (slugProblem(idOrSlug)) return null;
    return this.withRegion(await tenants.findOneBy({ slug: idOrSlug }));
  }

  /** Every tenant as the API shows it names its region: a NULL one is the default region. */
  private withRegion<T extends TenantEntity | null>(tenant: T): T {
    if (tenant && tenant.region === null && this.settings) tenant.region = this.settings.defaultRegion;
    return tenant;
  }

  /**
   * Newest first, keyset-paginated on (created_at, id). Creation times are compared in whole
   * microseconds, PostgreSQL's own precision, so no tenant is skipped or repeated across pages.
   */
  async list(query: TenantListQuery): Promise<TenantPage> {
    const qb = this.dataSource
      .getRepository(TenantEntity)
      .createQueryBuilder('t')
      .addSelect(`(extract(epoch FROM t.created_at) * 1000000)::bigint`, 'created_micros')
      .orderBy('t.created_at', 'DESC')
      .addOrderBy('t.id', 'DESC')
      .limit(query.limit + 1);
    if (query.statuses?.length) qb.andWhere('t.status IN (:...statuses)', { statuses: query.statuses });
    if (query.tiers?.length) qb.andWhere('t.tier IN (:...tiers)', { tiers: query.tiers });
    if (query.regions?.length) {
      qb.andWhere('coalesce(t.region, :home) IN (:...regions)', {
        regions: query.regions,
        home: this.settings?.defaultRegion ?? null,
      });
    }
    if (query.after) {
      qb.andWhere(
        `(t.created_at, t.id) < ('epoch'::timestamptz + :micros * interval '1 microsecond', :afterId)`,
        { micros: query.after.createdAtMicros.toString(), afterId: query.after.id },
      );
    }
    const { entities, raw } = await qb.getRawAndEntities<{ created_micros: string }>();
    const items = entities.slice(0, query.limit).map((t) => this.withRegion(t));
    const last = items.at(-1);
    const lastRaw = raw[items.length - 1];
    return {
      items,
      next:
        entities.length > query.limit && last && lastRaw
          ? { createdAtMicros: BigInt(lastRaw.created_micros), id: last.id }
          : null,
    };
  }

  /** The reconciler's open findings on these tenants, critical first, keyed by tenant id. */
  async findingsOf(tenantIds: readonly string[]): Promise<Map<string, ReconcileFindingEntity[]>> {
    const byTenant = new Map<string, ReconcileFindingEntity[]>(tenantIds.map((id) => [id, []]));
    if (!tenantIds.length) return byTenant;
    const rows = await this.dataSource
      .getRepository(ReconcileFindingEntity)
      .createQueryBuilder('f')
      .where('f.tenant_id IN (:...tenantIds)', { tenantIds })
      .orderBy('f.severity', 'ASC')
      .addOrderBy('f.field', 'ASC')
      .getMany();
    for (const row of rows) byTenant.get(row.tenantId)?.push(row);
    return byTenant;
  }

  /** Each tenant's latest change (open or not) with its steps, keyed by tenant id; none before the first. */
  async changesOf(tenantIds: readonly string[]): Promise<Map<string, TenantChangeDetail>> {
    const byTenant = new Map<string, TenantChangeDetail>();
    if (!tenantIds.length) return byTenant;
    const changes = await this.dataSource
      .getRepository(TenantChangeEntity)
      .createQueryBuilder('c')
      .where('c.tenant_id IN (:...tenantIds)', { tenantIds })
      .andWhere('c.run = (SELECT t.change_run FROM tenants t WHERE t.id = c.tenant_id)')
      .getMany();
    if (!changes.length) return byTenant;
    const steps = await this.dataSource
      .getRepository(ProvisioningStepEntity)
      .createQueryBuilder('s')
      .where('s.tenant_id IN (:...ids)', { ids: changes.map((c) => c.tenantId) })
      .andWhere(IN_CURRENT_CHANGE)
      .andWhere(`s.saga IN ('modify', 'rotate', 'move', 'restore', 'undelete')`)
      .orderBy('s.position', 'ASC')
      .getMany();
    for (const change of changes) {
      byTenant.set(change.tenantId, {
        change,
        steps: steps.filter((st) => st.tenantId === change.tenantId && st.saga === sagaOf(change)),
      });
    }
    return byTenant;
  }

  /** Steps of both sagas for the tenant's current provisioning run, provisioning first, in order. */
  steps(tenantId: string): Promise<ProvisioningStepEntity[]> {
    return this.currentRunSteps().andWhere('s.tenant_id = :tenantId', { tenantId }).getMany();
  }

  /** Steps of many tenants' current runs at once (for list pages), keyed by tenant id. */
  async stepsOf(tenantIds: readonly string[]): Promise<Map<string, ProvisioningStepEntity[]>> {
    const byTenant = new Map<string, ProvisioningStepEntity[]>(tenantIds.map((id) => [id, []]));
    if (!tenantIds.length) return byTenant;
    const rows = await this.currentRunSteps()
      .andWhere('s.tenant_id IN (:...tenantIds)', { tenantIds })
      .getMany();
    for (const row of rows) byTenant.get(row.tenantId)?.push(row);
    return byTenant;
  }

  /** Steps of current provisioning runs, provisioning first, in order. */
  private currentRunSteps(): SelectQueryBuilder<ProvisioningStepEntity> {
    return this.dataSource
      .getRepository(ProvisioningStepEntity)
      .createQueryBuilder('s')
      .where(IN_CURRENT_RUN)
      .andWhere(`s.saga IN ('provision', 'deprovision')`)
      .orderBy('s.saga', 'DESC')
      .addOrderBy('s.position', 'ASC');
  }

  /** The audit trail, oldest first. */
  events(tenantId: string): Promise<TenantEventEntity[]> {
    return this.dataSource
      .getRepository(TenantEventEntity)
      .find({ where: { tenantId }, order: { id: 'ASC' } });
  }
}

function sagaOf(change: TenantChangeEntity): 'modify' | 'rotate' | 'move' | 'restore' | 'undelete' {
  return (
    { tier: 'modify', rotation: 'rotate', move: 'move', restore: 'restore', undelete: 'undelete' } as const
  )[change.kind];
}
