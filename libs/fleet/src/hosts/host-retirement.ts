import { HostEntity } from '@silo/control-plane-db';
import { DataSource, type EntityManager } from 'typeorm';
import { writeDeleteHostJob } from '../jobs/host-jobs';
import { countPlaced, RESERVING } from './host-allocator';
import { HostError, HostErrorCode } from './host.errors';
import { lockHostPool } from './host-pool-lock';

/**
 * The control-plane side of retiring shared hosts: which hosts are empty, since when, and the
 * decision to delete one. The decision takes the same lock as placements (`lockHostPool`), so a
 * tenant is never placed on a host that is being deleted, and a host with tenants is never
 * deleted. What deletes the host's AWS resources afterwards is the host's delete saga.
 */
export class HostRetirement {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Moves the host to `deleting` and writes its delete job to the outbox in the same
   * transaction. Refuses a host with tenants placed (HOST_HAS_TENANTS) and one still being
   * created (HOST_BUSY: its create saga finishes or fails first). A host already `deleting` or
   * `deleted` is answered as it is.
   */
  beginDeletion(hostId: string): Promise<HostEntity> {
    return this.dataSource.transaction(async (em) => {
      const found = await em.getRepository(HostEntity).findOneBy({ id: hostId });
      if (!found) throw new HostError(HostErrorCode.HOST_NOT_FOUND, `no host ${hostId}`);
      await lockHostPool(em, found.placement, found.tier);
      const host = await lockedHost(em, hostId);
      if (host.status === 'deleting' || host.status === 'deleted') return host;
      if (host.status === 'creating') {
        throw new HostError(HostErrorCode.HOST_BUSY, `host ${host.name} is still being created`, {
          hostStatus: host.status,
        });
      }
      const placed = await countPlaced(em, host.id);
      if (placed > 0) {
        throw new HostError(
          HostErrorCode.HOST_HAS_TENANTS,
          `host ${host.name} has ${placed} tenant${placed === 1 ? '' : 's'} placed; it cannot be deleted`,
          { tenantsPlaced: String(placed) },
        );
      }
      await em.query(`UPDATE hosts SET status = 'deleting', updated_at = now() WHERE id = $1`, [host.id]);
      await writeDeleteHostJob(em, host.id);
      return lockedHost(em, hostId);
    });
  }

  /**
   * Records since when each available host has been empty: sets `empty_since` on hosts that
   * have no tenant and none recorded, clears it on hosts that have tenants again. Returns how
   * many hosts it changed.
   */
  async recordEmptyHosts(now: Date = new Date()): Promise<number> {
    // An UPDATE answers [rows, row count] through TypeORM's query().
    const [, changed] = await this.dataSource.query<[unknown, number]>(
      `UPDATE hosts h
          SET empty_since = CASE WHEN p.placed = 0 THEN $1::timestamptz END, updated_at = now()
         FROM (SELECT h2.id,
                      (SELECT count(*)::int FROM tenants t WHERE t.host_id = h2.id AND t.status <> 'DELETED')
                    + (SELECT count(*)::int FROM tenant_changes c WHERE ${RESERVING} AND c.plan->'to'->>'hostId' = h2.id::text) AS placed
                 FROM hosts h2 WHERE h2.status = 'available') p
        WHERE h.id = p.id
          AND ((p.placed = 0 AND h.empty_since IS NULL) OR (p.placed > 0 AND h.empty_since IS NOT NULL))
        RETURNING h.id`,
      [now],
    );
    return changed;
  }

  /** Available hosts empty for at least `graceMs` (by `empty_since`), oldest first: due for deletion. */
  async emptyPastGrace(graceMs: number, now: Date = new Date()): Promise<HostEntity[]> {
    return this.dataSource
      .getRepository(HostEntity)
      .createQueryBuilder('h')
      .where(`h.status = 'available'`)
      .andWhere('h.empty_since <= :cutoff', { cutoff: new Date(now.getTime() - graceMs) })
      .orderBy('h.empty_since', 'ASC')
      .getMany();
  }
}

async function lockedHost(em: EntityManager, hostId: string): Promise<HostEntity> {
  return em
    .getRepository(HostEntity)
    .createQueryBuilder('h')
    .setLock('pessimistic_write')
    .where('h.id = :id', { id: hostId })
    .getOneOrFail();
}
