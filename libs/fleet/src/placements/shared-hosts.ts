import { HostEntity, type HostFailure, type HostStatus } from '@silo/control-plane-db';
import type { SharedPlacement } from '@silo/core';
import type { DataSource, EntityManager } from 'typeorm';
import { RESERVING, type HostAllocator, type PlacementRequest } from '../hosts/host-allocator';
import { lockHostPool } from '../hosts/host-pool-lock';

/** What the tenant sagas know of a shared host. Never a credential. */
export interface SharedHostView {
  id: string;
  name: string;
  placement: SharedPlacement;
  tier: string;
  status: HostStatus;
  instanceIdentifier: string;
  /** Null until the host's instance is available. */
  endpoint: { host: string; port: number } | null;
  error: HostFailure | null;
  /** A pool host's pool database: the newest tenant migration its saga applied (null for schema hosts). */
  schemaVersion: string | null;
  /** Tenants it takes, and the connections all of them together may hold. */
  capacity: { tenants: number; connectionBudget: number };
}

/**
 * The connections one schema tenant's login may hold on its host (its CONNECTION LIMIT): an even
 * share of the host's connection budget, so that a full host stays within the budget and no
 * tenant takes another's share. At least 1.
 */
export function schemaTenantConnectionLimit(host: Pick<SharedHostView, 'capacity'>): number {
  return Math.max(1, Math.floor(host.capacity.connectionBudget / host.capacity.tenants));
}

/** The control-plane side of a shared tenant's place on a host. */
export interface SharedHosts {
  /** Places the tenant (or answers the host it already has); see {@link HostAllocator.placeTenant}. */
  place(tenantId: string, request: PlacementRequest): Promise<{ host: SharedHostView; hostCreated: boolean }>;
  host(hostId: string): Promise<SharedHostView | null>;
  /**
   * Gives the tenant's place back (compensation): `host_id` cleared and, when the host is
   * `available` and now has no tenant, its `empty_since` recorded, under the placements' lock.
   * Idempotent: a tenant with no host is done.
   */
  release(tenantId: string): Promise<void>;
}

/** {@link SharedHosts} on the control-plane database. */
export class TypeormSharedHosts implements SharedHosts {
  constructor(
    private readonly dataSource: DataSource,
    private readonly allocator: Pick<HostAllocator, 'placeTenant'>,
  ) {}

  async place(
    tenantId: string,
    request: PlacementRequest,
  ): Promise<{ host: SharedHostView; hostCreated: boolean }> {
    const placed = await this.allocator.placeTenant(tenantId, request);
    return { host: viewOf(placed.host), hostCreated: placed.hostCreated };
  }

  async host(hostId: string): Promise<SharedHostView | null> {
    const row = await this.dataSource.getRepository(HostEntity).findOneBy({ id: hostId });
    return row ? viewOf(row) : null;
  }

  async release(tenantId: string): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      const [placed] = await em.query<Array<{ host_id: string; placement: SharedPlacement; tier: string }>>(
        `SELECT t.host_id, h.placement, h.tier FROM tenants t JOIN hosts h ON h.id = t.host_id WHERE t.id = $1`,
        [tenantId],
      );
      if (!placed) return;
      // The lock placements take, so the count below and a concurrent placement do not interleave.
      await lockHostPool(em, placed.placement, placed.tier);
      await em.query(`UPDATE tenants SET host_id = NULL, updated_at = now() WHERE id = $1 AND host_id = $2`, [
        tenantId,
        placed.host_id,
      ]);
      await recordHostEmptyIfSo(em, placed.host_id);
    });
  }
}

/**
 * In the caller's transaction, which holds the host's placements lock: sets the host's
 * `empty_since` when it is available, has none recorded and no tenant counts against it any more
 * (DELETED ones do not), as HostRetirement.recordEmptyHosts would on its next pass.
 */
export async function recordHostEmptyIfSo(em: Pick<EntityManager, 'query'>, hostId: string): Promise<void> {
  await em.query(
    `UPDATE hosts SET empty_since = now(), updated_at = now()
      WHERE id = $1 AND status = 'available' AND empty_since IS NULL
        AND NOT EXISTS (SELECT 1 FROM tenants t WHERE t.host_id = $1 AND t.status <> 'DELETED')
        AND NOT EXISTS (SELECT 1 FROM tenant_changes c WHERE ${RESERVING} AND c.plan->'to'->>'hostId' = $1::text)`,
    [hostId],
  );
}

function viewOf(row: HostEntity): SharedHostView {
  return {
    id: row.id,
    name: row.name,
    placement: row.placement,
    tier: row.tier,
    status: row.status,
    instanceIdentifier: row.instanceIdentifier,
    endpoint:
      row.endpointHost && row.endpointPort ? { host: row.endpointHost, port: row.endpointPort } : null,
    error: row.error,
    schemaVersion: row.schemaVersion,
    capacity: { tenants: row.capacityTenants, connectionBudget: row.connectionBudget },
  };
}
