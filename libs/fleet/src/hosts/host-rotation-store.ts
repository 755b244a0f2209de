import { HostEntity, HostRotationEntity } from '@silo/control-plane-db';
import { DataSource, type EntityManager } from 'typeorm';
import { writeRotateHostJob } from '../jobs/host-jobs';
import type { SagaContext } from '../store/provisioning-store';
import { isUniqueViolation } from '../store/unique-violation';
import { HostError, HostErrorCode } from './host.errors';
import type { HostStepCompletion } from './host-step-store';

/** The control-plane records of pool-login rotations: `host_rotations` and the `rotate` steps of `host_steps`. */
export class HostRotationStore {
  constructor(private readonly dataSource: DataSource) {}

  /** The host's latest rotation, whatever its status. */
  latest(hostId: string): Promise<HostRotationEntity | null> {
    return this.dataSource
      .getRepository(HostRotationEntity)
      .findOne({ where: { hostId }, order: { run: 'DESC' } });
  }

  /** The host's rotations, newest first. */
  list(hostId: string, limit: number): Promise<HostRotationEntity[]> {
    return this.dataSource
      .getRepository(HostRotationEntity)
      .find({ where: { hostId }, order: { run: 'DESC' }, take: limit });
  }

  /**
   * Opens the host's next rotation: its row, its job in the outbox and the previous rotation's
   * steps cleared, in one transaction holding the host's row. Refuses an unknown host
   * (HOST_NOT_FOUND), a schema host, which has no pool login (HOST_CHANGE_REFUSED), a host that is
   * not available and one with a rotation running (HOST_BUSY).
   */
  async open(hostId: string, ctx: SagaContext): Promise<{ host: HostEntity; rotation: HostRotationEntity }> {
    try {
      return await this.dataSource.transaction(async (em) => {
        const host = await em
          .getRepository(HostEntity)
          .createQueryBuilder('h')
          .setLock('pessimistic_write')
          .where('h.id = :id', { id: hostId })
          .getOne();
        if (!host) throw new HostError(HostErrorCode.HOST_NOT_FOUND, `no host ${hostId}`);
        if (host.placement !== 'pool') {
          throw new HostError(
            HostErrorCode.HOST_CHANGE_REFUSED,
            `host ${host.name} is a schema host: it has no pool login. Each of its tenants has a login of its own, ` +
              'rotated with POST /v1/tenants/{id}/rotate-credentials; the host’s master user is not rotated through the API',
            { rule: 'schema-host-has-no-pool-login' },
          );
        }
        if (host.status !== 'available') {
          throw new HostError(
            HostErrorCode.HOST_BUSY,
            `host ${host.name} is ${host.status}; its pool login is rotated only while it is available`,
            { hostStatus: host.status },
          );
        }
        const running = await em.getRepository(HostRotationEntity).findOneBy({ hostId, status: 'RUNNING' });
        if (running) throw busy(host, running.run);
        const [{ next }] = await em.query<Array<{ next: number }>>(
          `SELECT coalesce(max(run), 0)::int + 1 AS next FROM host_rotations WHERE host_id = $1`,
          [hostId],
        );
        const rotations = em.getRepository(HostRotationEntity);
        await rotations.save(
          rotations.create({
            hostId,
            run: next,
            status: 'RUNNING',
            plan: {},
            requestedBy: ctx.actor,
            correlationId: ctx.correlationId,
          }),
        );
        // The journal holds one row per saga and step: this rotation's start from nothing.
        await em.query(`DELETE FROM host_steps WHERE host_id = $1 AND saga = 'rotate'`, [hostId]);
        await writeRotateHostJob(em, hostId, next);
        return { host, rotation: await rotations.findOneByOrFail({ hostId, run: next }) };
      });
    } catch (error) {
      if (isUniqueViolation(error, 'host_rotations_one_running')) {
        const host = await this.dataSource.getRepository(HostEntity).findOneByOrFail({ id: hostId });
        throw busy(host, null);
      }
      throw error;
    }
  }

  /** Adds `patch` to the rotation's plan (the pending version and the logins; never a password). */
  async mergePlan(rotation: HostRotationEntity, patch: Record<string, unknown>): Promise<void> {
    await this.dataSource.query(
      `UPDATE host_rotations SET plan = plan || $3::jsonb, updated_at = now() WHERE host_id = $1 AND run = $2`,
      [rotation.hostId, rotation.run, JSON.stringify(patch)],
    );
    rotation.plan = { ...rotation.plan, ...patch };
  }

  /** SUCCEEDED and its last step done, in one transaction. False when it was no longer running. */
  succeed(rotation: HostRotationEntity, completion: HostStepCompletion): Promise<boolean> {
    return this.dataSource.transaction(async (em) => {
      if (!(await this.end(em, rotation, `status = 'SUCCEEDED'`, []))) return false;
      await em.query(
        `INSERT INTO host_steps (host_id, saga, step, position, status, attempts, failures, started_at, finished_at, updated_at)
         VALUES ($1, $2, $3, $4, 'done', 1, 0, $5, $5, now())
         ON CONFLICT (host_id, saga, step) DO UPDATE
            SET status = 'done', finished_at = EXCLUDED.finished_at, updated_at = now()`,
        [rotation.hostId, completion.saga, completion.name, completion.position, completion.finishedAt],
      );
      return true;
    });
  }

  /** FAILED with the reason; the host and its pool login are left as they work. */
  async fail(
    rotation: HostRotationEntity,
    error: { code: string; message: string; step: string },
  ): Promise<boolean> {
    return this.end(
      this.dataSource.manager,
      rotation,
      `status = 'FAILED', error_code = $3, error_message = $4, error_step = $5`,
      [error.code, error.message, error.step],
    );
  }

  /**
   * Available pool hosts with no rotation running whose pool login was last rotated (or the host
   * created) more than `days` days ago, oldest first: due for a scheduled rotation.
   */
  async due(days: number, limit: number): Promise<HostEntity[]> {
    const rows = await this.dataSource.query<Array<{ id: string }>>(
      `SELECT h.id FROM hosts h
        WHERE h.placement = 'pool' AND h.status = 'available'
          AND NOT EXISTS (SELECT 1 FROM host_rotations r WHERE r.host_id = h.id AND r.status = 'RUNNING')
          AND coalesce((SELECT max(r.finished_at) FROM host_rotations r WHERE r.host_id = h.id AND r.status = 'SUCCEEDED'),
                       h.created_at) < now() - $1 * interval '1 day'
        ORDER BY h.created_at
        LIMIT $2`,
      [days, limit],
    );
    if (!rows.length) return [];
    const hosts = await this.dataSource.getRepository(HostEntity).findBy(rows.map(({ id }) => ({ id })));
    return rows.map(({ id }) => hosts.find((h) => h.id === id)!).filter(Boolean);
  }

  private async end(
    em: Pick<EntityManager, 'query'>,
    rotation: HostRotationEntity,
    set: string,
    params: unknown[],
  ): Promise<boolean> {
    // An UPDATE answers [rows, row count] through TypeORM's query().
    const [, affected] = await em.query<[unknown, number]>(
      `UPDATE host_rotations SET ${set}, finished_at = now(), updated_at = now()
        WHERE host_id = $1 AND run = $2 AND status = 'RUNNING'`,
      [rotation.hostId, rotation.run, ...params],
    );
    return affected > 0;
  }
}

function busy(host: HostEntity, run: number | null): HostError {
  return new HostError(
    HostErrorCode.HOST_BUSY,
    `host ${host.name} has a pool-login rotation running${run ? ` (rotation ${run})` : ''}`,
    { heldBy: 'rotation', ...(run ? { run: String(run) } : {}) },
  );
}
