import { HostEntity, PLACEABLE_HOST_STATUSES, TenantEntity } from '@silo/control-plane-db';
import { hostName, hostResourceNames, type SharedPlacement } from '@silo/core';
import { DataSource, type EntityManager } from 'typeorm';
import { writeCreateHostJob } from '../jobs/host-jobs';
import type { ProvisioningSettings } from '../saga/provisioning-settings';
import type { HostCapacity, SharedTierProfile } from '../tiers';
import { HostError, HostErrorCode } from './host.errors';
import { lockHostPool } from './host-pool-lock';

/** Where a shared tenant is to be placed: its tier's placement and capacity. */
export interface PlacementRequest {
  placement: SharedPlacement;
  tier: string;
  capacity: HostCapacity;
}

/** The placement request of a shared tier's profile. */
export function placementRequestOf(profile: SharedTierProfile): PlacementRequest {
  return { placement: profile.placement, tier: profile.tier, capacity: profile.capacity };
}

export interface TenantPlacement {
  host: HostEntity;
  /** Tenants on the host after this placement (DELETED ones do not count). */
  tenantsPlaced: number;
  /**
   * True when this call made the host record (status `creating`); its create job was written to
   * the outbox in the same transaction.
   */
  hostCreated: boolean;
  /** True when the tenant was already on the host before this call. */
  alreadyPlaced: boolean;
}

/**
 * What the allocator needs from the settings: the resource prefix, the database name, and the
 * default region (that of a tenant or host whose `region` is NULL; unset: such rows match each other only).
 */
export type HostAllocatorSettings = Pick<ProvisioningSettings, 'prefix' | 'databaseName'> &
  Partial<Pick<ProvisioningSettings, 'defaultRegion'>>;

/** Tenants that count against a host's capacity: all but DELETED ones. */
const PLACED = `status <> 'DELETED'`;
/**
 * Changes (alias `c`) whose `plan.to.hostId` holds a place: a move into a host, and an undelete of
 * a shared tenant, while they run.
 */
export const RESERVING = `c.kind IN ('move', 'undelete') AND c.status = 'RUNNING'`;
/** A tenant in these can no longer be placed. */
const UNPLACEABLE_STATUSES = ['DEPROVISIONING', 'DELETED'];

/**
 * Places shared tenants on hosts. Each placement is one control-plane transaction holding the
 * lock of its placement and tier (`lockHostPool`), so concurrent placements count a host's
 * tenants one after the other: none overfills a host, and a new host is made only when no host
 * of the placement and tier has room.
 */
export class HostAllocator {
  constructor(
    private readonly dataSource: DataSource,
    private readonly settings: HostAllocatorSettings,
  ) {}

  /**
   * Places the tenant on the fullest `available` or `creating` host of its placement, tier and
   * region (the tenant's, never another: its data stays in its region) with room (ties: an available one first, then the lowest ordinal), or on a new host record
   * (next ordinal, `creating`) when none has room. A tenant already placed keeps its host.
   * A host's capacity is the one recorded when it was made. Runs in `em`'s transaction when
   * given one (the caller's other writes then commit with the placement), else in its own.
   */
  async placeTenant(
    tenantId: string,
    request: PlacementRequest,
    em?: EntityManager,
  ): Promise<TenantPlacement> {
    assertCapacity(request.capacity);
    if (em) return this.place(em, tenantId, request);
    return this.dataSource.transaction((tx) => this.place(tx, tenantId, request));
  }

  private async place(
    em: EntityManager,
    tenantId: string,
    request: PlacementRequest,
  ): Promise<TenantPlacement> {
    await lockHostPool(em, request.placement, request.tier);
    const tenant = await em
      .getRepository(TenantEntity)
      .createQueryBuilder('t')
      .setLock('pessimistic_write')
      .where('t.id = :id', { id: tenantId })
      .getOne();
    if (!tenant) throw new HostError(HostErrorCode.TENANT_NOT_PLACEABLE, `tenant ${tenantId} does not exist`);
    if (tenant.placement !== request.placement || tenant.tier !== request.tier) {
      throw new HostError(
        HostErrorCode.TENANT_NOT_PLACEABLE,
        `tenant ${tenantId} is a ${tenant.placement} tenant of tier ${tenant.tier}, not ${request.placement} of ${request.tier}`,
        { placement: tenant.placement, tier: tenant.tier },
      );
    }
    if (tenant.hostId) {
      const host = await em.getRepository(HostEntity).findOneByOrFail({ id: tenant.hostId });
      return { host, tenantsPlaced: await countPlaced(em, host.id), hostCreated: false, alreadyPlaced: true };
    }
    if (UNPLACEABLE_STATUSES.includes(tenant.status)) {
      throw new HostError(HostErrorCode.TENANT_NOT_PLACEABLE, `tenant ${tenantId} is ${tenant.status}`);
    }

    const home = this.settings.defaultRegion ?? null;
    const region = tenant.region ?? home;
    const { host, placedBefore, hostCreated } = await this.roomyOrNewHost(em, request, region);
    await em.query(`UPDATE tenants SET host_id = $2, updated_at = now() WHERE id = $1`, [tenant.id, host.id]);
    if (host.emptySince) {
      await em.query(`UPDATE hosts SET empty_since = NULL, updated_at = now() WHERE id = $1`, [host.id]);
      host.emptySince = null;
    }
    return { host, tenantsPlaced: placedBefore + 1, hostCreated, alreadyPlaced: false };
  }

  /**
   * A place on a host of `request`'s placement and tier in `region` for a tenant moving in or
   * being undeleted: as {@link placeTenant} chooses, but recorded on the change (its
   * `plan.to.hostId`), not on the tenant, whose route (or deletion) stays as it is until the
   * change's switch. The reservation counts against the host's capacity, and keeps the host from
   * being retired as empty, while the change runs. Idempotent: a change with a host keeps it.
   */
  async reserveForChange(
    change: { tenantId: string; run: number },
    request: PlacementRequest,
    region: string,
  ): Promise<{ host: HostEntity; hostCreated: boolean }> {
    assertCapacity(request.capacity);
    return this.dataSource.transaction(async (em) => {
      await lockHostPool(em, request.placement, request.tier);
      const [row] = await em.query<Array<{ hostId: string | null }>>(
        `SELECT plan->'to'->>'hostId' AS "hostId" FROM tenant_changes WHERE tenant_id = $1 AND run = $2 FOR UPDATE`,
        [change.tenantId, change.run],
      );
      if (!row)
        throw new HostError(
          HostErrorCode.TENANT_NOT_PLACEABLE,
          `tenant ${change.tenantId} has no change ${change.run}`,
        );
      if (row.hostId)
        return {
          host: await em.getRepository(HostEntity).findOneByOrFail({ id: row.hostId }),
          hostCreated: false,
        };
      const { host, hostCreated } = await this.roomyOrNewHost(em, request, region);
      await em.query(
        `UPDATE tenant_changes SET plan = jsonb_set(plan, '{to,hostId}', to_jsonb($3::text)), updated_at = now() WHERE tenant_id = $1 AND run = $2`,
        [change.tenantId, change.run, host.id],
      );
      if (host.emptySince) {
        await em.query(`UPDATE hosts SET empty_since = NULL, updated_at = now() WHERE id = $1`, [host.id]);
        host.emptySince = null;
      }
      return { host, hostCreated };
    });
  }

  /**
   * The fullest `available` or `creating` host of the placement, tier and region with room (its
   * tenants and the moves reserving a place on it, against its capacity), or a new host record.
   * The caller holds the pool's lock.
   */
  private async roomyOrNewHost(
    em: EntityManager,
    request: PlacementRequest,
    region: string | null,
  ): Promise<{ host: HostEntity; placedBefore: number; hostCreated: boolean }> {
    const home = this.settings.defaultRegion ?? null;
    const roomy = await em.query<Array<{ id: string; placed: number }>>(
      `SELECT h.id, p.placed
         FROM hosts h
        CROSS JOIN LATERAL (
          SELECT (SELECT count(*)::int FROM tenants t WHERE t.host_id = h.id AND t.${PLACED})
               + (SELECT count(*)::int FROM tenant_changes c
                   WHERE ${RESERVING} AND c.plan->'to'->>'hostId' = h.id::text) AS placed) p
        WHERE h.placement = $1 AND h.tier = $2 AND h.status = ANY($3)
          AND coalesce(h.region, $5) IS NOT DISTINCT FROM $4
          AND p.placed < h.capacity_tenants
        ORDER BY p.placed DESC, (h.status = 'available') DESC, h.ordinal
        LIMIT 1
          FOR UPDATE OF h`,
      [request.placement, request.tier, PLACEABLE_HOST_STATUSES, region, home],
    );
    if (roomy[0])
      return {
        host: await em.getRepository(HostEntity).findOneByOrFail({ id: roomy[0].id }),
        placedBefore: roomy[0].placed,
        hostCreated: false,
      };
    return { host: await this.newHost(em, request, region), placedBefore: 0, hostCreated: true };
  }

  private async newHost(
    em: EntityManager,
    request: PlacementRequest,
    region: string | null,
  ): Promise<HostEntity> {
    // Ordinals are never reused, not even a deleted host's: its final snapshot and any resource
    // a crashed deletion left carry the name. They count across regions, so a host's name is
    // unique in the fleet, and the same in every region's AWS.
    const [{ next }] = await em.query<Array<{ next: number }>>(
      `SELECT coalesce(max(ordinal), 0)::int + 1 AS next FROM hosts WHERE placement = $1 AND tier = $2`,
      [request.placement, request.tier],
    );
    const name = hostName(request.placement, request.tier, next);
    const hosts = em.getRepository(HostEntity);
    const host = await hosts.save(
      hosts.create({
        name,
        placement: request.placement,
        tier: request.tier,
        ordinal: next,
        status: 'creating',
        region,
        instanceIdentifier: hostResourceNames(this.settings.prefix, name).instanceIdentifier,
        databaseName: this.settings.databaseName,
        capacityTenants: request.capacity.tenantsPerHost,
        connectionBudget: request.capacity.connectionBudget,
        endpointHost: null,
        endpointPort: null,
        error: null,
        emptySince: null,
        deletedAt: null,
        schemaVersion: null,
      }),
    );
    // The host exists exactly when its create saga is queued: both commit with the placement.
    await writeCreateHostJob(em, host.id);
    return host;
  }
}

/** Tenants on the host that count against its capacity, and the changes reserving a place on it. */
export async function countPlaced(em: Pick<EntityManager, 'query'>, hostId: string): Promise<number> {
  const [{ placed }] = await em.query<Array<{ placed: number }>>(
    `SELECT (SELECT count(*)::int FROM tenants WHERE host_id = $1 AND ${PLACED})
          + (SELECT count(*)::int FROM tenant_changes c WHERE ${RESERVING} AND c.plan->'to'->>'hostId' = $1::text) AS placed`,
    [hostId],
  );
  return placed;
}

function assertCapacity(capacity: HostCapacity): void {
  for (const [field, value] of Object.entries(capacity)) {
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`capacity.${field} must be a positive integer`);
  }
}
