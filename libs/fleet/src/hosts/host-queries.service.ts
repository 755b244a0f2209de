import { Injectable } from '@nestjs/common';
import { HostEntity, type HostStatus } from '@silo/control-plane-db';
import { isTenantId, type SharedPlacement } from '@silo/core';
import { DataSource } from 'typeorm';

/** Where a page of the host list ends: the last host's creation time (µs) and id. */
export interface HostCursor {
  createdAtMicros: bigint;
  id: string;
}

export interface HostListQuery {
  placements?: readonly SharedPlacement[];
  tiers?: readonly string[];
  statuses?: readonly HostStatus[];
  limit: number;
  after?: HostCursor;
}

/** A host with the number of tenants placed on it (DELETED tenants do not count). */
export interface HostWithTenants {
  host: HostEntity;
  tenantsPlaced: number;
}

export interface HostPage {
  items: HostWithTenants[];
  /** Set when more hosts follow the last item. */
  next: HostCursor | null;
}

const PLACED_COUNT = `(SELECT count(*)::int FROM tenants t WHERE t.host_id = h.id AND t.status <> 'DELETED')`;

/** Read side of the shared hosts for the API. */
@Injectable()
export class HostQueries {
  constructor(private readonly dataSource: DataSource) {}

  /** By id; null for an unknown id and for anything that is not a UUID. */
  async find(id: string): Promise<HostWithTenants | null> {
    if (!isTenantId(id)) return null;
    const { entities, raw } = await this.dataSource
      .getRepository(HostEntity)
      .createQueryBuilder('h')
      .addSelect(PLACED_COUNT, 'tenants_placed')
      .where('h.id = :id', { id: id.toLowerCase() })
      .getRawAndEntities<{ tenants_placed: number }>();
    const host = entities[0];
    return host ? { host, tenantsPlaced: raw[0]?.tenants_placed ?? 0 } : null;
  }

  /**
   * Newest first, keyset-paginated on (created_at, id) in whole microseconds, as the tenant list
   * is, so no host is skipped or repeated across pages.
   */
  async list(query: HostListQuery): Promise<HostPage> {
    const qb = this.dataSource
      .getRepository(HostEntity)
      .createQueryBuilder('h')
      .addSelect(`(extract(epoch FROM h.created_at) * 1000000)::bigint`, 'created_micros')
      .addSelect(PLACED_COUNT, 'tenants_placed')
      .orderBy('h.created_at', 'DESC')
      .addOrderBy('h.id', 'DESC')
      .limit(query.limit + 1);
    if (query.placements?.length)
      qb.andWhere('h.placement IN (:...placements)', { placements: query.placements });
    if (query.tiers?.length) qb.andWhere('h.tier IN (:...tiers)', { tiers: query.tiers });
    if (query.statuses?.length) qb.andWhere('h.status IN (:...statuses)', { statuses: query.statuses });
    if (query.after) {
      qb.andWhere(
        `(h.created_at, h.id) < ('epoch'::timestamptz + :micros * interval '1 microsecond', :afterId)`,
        { micros: query.after.createdAtMicros.toString(), afterId: query.after.id },
      );
    }
    const { entities, raw } = await qb.getRawAndEntities<{
      created_micros: string;
      tenants_placed: number;
    }>();
    const items = entities.slice(0, query.limit).map((host, i) => ({
      host,
      tenantsPlaced: raw[i]?.tenants_placed ?? 0,
    }));
    const last = items.at(-1);
    const lastRaw = raw[items.length - 1];
    return {
      items,
      next:
        entities.length > query.limit && last && lastRaw
          ? { createdAtMicros: BigInt(lastRaw.created_micros), id: last.host.id }
          : null,
    };
  }
}
