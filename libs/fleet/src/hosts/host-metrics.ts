import type { HostStatus } from '@silo/control-plane-db';
import type { SharedPlacement } from '@silo/core';
import type { DataSource } from 'typeorm';

/** How many hosts of a placement are in a status. */
export interface HostCount {
  placement: SharedPlacement;
  status: HostStatus;
  hosts: number;
}

/** One live host's fill: tenants placed (DELETED ones do not count) against its capacity. */
export interface HostFill {
  name: string;
  placement: SharedPlacement;
  tier: string;
  status: HostStatus;
  tenantsPlaced: number;
  capacityTenants: number;
}

export interface HostMetrics {
  byStatus: HostCount[];
  /** Every host not yet deleted. */
  fill: HostFill[];
}

/** The hosts' gauges for a metrics endpoint, in two queries (deleted hosts only in the counts). */
export async function readHostMetrics(dataSource: Pick<DataSource, 'query'>): Promise<HostMetrics> {
  const byStatus = await dataSource.query<HostCount[]>(
    `SELECT placement, status, count(*)::int AS hosts FROM hosts GROUP BY placement, status ORDER BY placement, status`,
  );
  const fill = await dataSource.query<HostFill[]>(
    `SELECT h.name, h.placement, h.tier, h.status, h.capacity_tenants AS "capacityTenants",
            (SELECT count(*)::int FROM tenants t WHERE t.host_id = h.id AND t.status <> 'DELETED') AS "tenantsPlaced"
       FROM hosts h WHERE h.status <> 'deleted' ORDER BY h.name`,
  );
  return { byStatus, fill };
}
