import { HostEntity, HostStepEntity, type HostFailure, type HostSagaKind } from '@silo/control-plane-db';
import { DataSource, type EntityManager } from 'typeorm';
import { stepDonePatch, type StepRecord } from '../store/provisioning-store';

/** A step to record as done together with the host's status change (activate, mark-deleted). */
export interface HostStepCompletion {
  saga: HostSagaKind;
  name: string;
  position: number;
  finishedAt: Date;
}

/** Where the host's database answers, as publish-connection found it. */
export interface HostEndpointFacts {
  host: string;
  port: number;
  database: string;
}

/**
 * The control-plane state of the hosts' sagas: the `hosts` row and its `host_steps` journal.
 * Status changes are conditional on the status they leave, so a pass that lost a race changes
 * nothing.
 */
export class HostStepStore {
  constructor(private readonly dataSource: DataSource) {}

  getHost(hostId: string): Promise<HostEntity | null> {
    return this.dataSource.getRepository(HostEntity).findOneBy({ id: hostId });
  }

  async getSteps(hostId: string, saga: HostSagaKind): Promise<Map<string, StepRecord>> {
    const rows = await this.dataSource.getRepository(HostStepEntity).find({ where: { hostId, saga } });
    return new Map(
      rows.map((r) => [
        r.step,
        {
          step: r.step,
          status: r.status,
          attempts: r.attempts,
          failures: r.failures,
          startedAt: r.startedAt,
          finishedAt: r.finishedAt,
          lastErrorCode: r.lastErrorCode,
          lastErrorMessage: r.lastErrorMessage,
        },
      ]),
    );
  }

  async updateStep(
    hostId: string,
    saga: HostSagaKind,
    step: { name: string; position: number },
    patch: Partial<Omit<StepRecord, 'step'>>,
  ): Promise<void> {
    await writeStep(this.dataSource.manager, hostId, saga, step, patch);
  }

  async recordEndpoint(hostId: string, endpoint: HostEndpointFacts): Promise<void> {
    await this.dataSource.query(
      `UPDATE hosts SET endpoint_host = $2, endpoint_port = $3, database_name = $4, updated_at = now() WHERE id = $1`,
      [hostId, endpoint.host, endpoint.port, endpoint.database],
    );
  }

  async recordSchemaVersion(hostId: string, version: string | null): Promise<void> {
    await this.dataSource.query(`UPDATE hosts SET schema_version = $2, updated_at = now() WHERE id = $1`, [
      hostId,
      version,
    ]);
  }

  /** `creating` → `available`, with the step done in the same transaction. False when the host was no longer creating. */
  activate(hostId: string, completion: HostStepCompletion): Promise<boolean> {
    return this.changeStatus(
      hostId,
      'creating',
      `status = 'available', error = NULL, updated_at = now()`,
      [],
      completion,
    );
  }

  /**
   * `creating` → `failed` with the reason, before compensation runs: from then on no tenant is
   * placed on the host, and tenants waiting for it see that it failed.
   */
  async fail(hostId: string, failure: HostFailure): Promise<boolean> {
    return this.changeStatus(hostId, 'creating', `status = 'failed', error = $2::jsonb, updated_at = now()`, [
      JSON.stringify(failure),
    ]);
  }

  /** `deleting` → `deleted`, with the step done in the same transaction. */
  markDeleted(hostId: string, completion: HostStepCompletion): Promise<boolean> {
    return this.changeStatus(
      hostId,
      'deleting',
      `status = 'deleted', deleted_at = now(), empty_since = NULL, updated_at = now()`,
      [],
      completion,
    );
  }

  /**
   * Runs `work` holding the host's lock (a PostgreSQL session advisory lock, freed if the holder
   * dies), so that two workers never run passes for one host at once; 'locked' when another holder
   * has it.
   */
  async withHostLock<T>(hostId: string, work: () => Promise<T>): Promise<T | 'locked'> {
    const key = hostLockKey(hostId);
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      const [{ locked }] = (await runner.query(`SELECT pg_try_advisory_lock(hashtext($1)) AS locked`, [
        key,
      ])) as { locked: boolean }[];
      if (!locked) return 'locked';
      try {
        return await work();
      } finally {
        await runner.query(`SELECT pg_advisory_unlock(hashtext($1))`, [key]);
      }
    } finally {
      await runner.release();
    }
  }

  private changeStatus(
    hostId: string,
    from: HostEntity['status'],
    set: string,
    params: unknown[],
    completion?: HostStepCompletion,
  ): Promise<boolean> {
    return this.dataSource.transaction(async (em) => {
      // An UPDATE answers [rows, row count] through TypeORM's query().
      const [, affected] = await em.query<[unknown, number]>(
        `UPDATE hosts SET ${set} WHERE id = $1 AND status = $${params.length + 2}`,
        [hostId, ...params, from],
      );
      if (!affected) return false;
      if (completion) {
        await writeStep(
          em,
          hostId,
          completion.saga,
          { name: completion.name, position: completion.position },
          stepDonePatch(completion.finishedAt),
        );
      }
      return true;
    });
  }
}

/** The advisory-lock key of one host's saga passes. */
export function hostLockKey(hostId: string): string {
  return `silo:host:${hostId}`;
}

async function writeStep(
  em: EntityManager,
  hostId: string,
  saga: HostSagaKind,
  step: { name: string; position: number },
  patch: Partial<Omit<StepRecord, 'step'>>,
): Promise<void> {
  const repo = em.getRepository(HostStepEntity);
  await repo
    .createQueryBuilder()
    .insert()
    .values({
      hostId,
      saga,
      step: step.name,
      position: step.position,
      status: patch.status ?? 'pending',
      attempts: patch.attempts ?? 0,
      failures: patch.failures ?? 0,
      startedAt: patch.startedAt ?? null,
      finishedAt: patch.finishedAt ?? null,
      lastErrorCode: patch.lastErrorCode ?? null,
      lastErrorMessage: patch.lastErrorMessage ?? null,
      updatedAt: () => 'now()',
    })
    .orUpdate(
      [
        ...(patch.status !== undefined ? ['status'] : []),
        ...(patch.attempts !== undefined ? ['attempts'] : []),
        ...(patch.failures !== undefined ? ['failures'] : []),
        ...(patch.startedAt !== undefined ? ['started_at'] : []),
        ...(patch.finishedAt !== undefined ? ['finished_at'] : []),
        ...(patch.lastErrorCode !== undefined ? ['last_error_code'] : []),
        ...(patch.lastErrorMessage !== undefined ? ['last_error_message'] : []),
        'updated_at',
      ],
      ['host_id', 'saga', 'step'],
    )
    .execute();
}
