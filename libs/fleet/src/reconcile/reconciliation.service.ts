import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import {
  ReconcileFindingEntity,
  ReconcileHostFindingEntity,
  ReconcileOrphanEntity,
  ReconcilePassEntity,
} from '@silo/control-plane-db';
import { DataSource, In, type EntityManager } from 'typeorm';
import { writeOutboxJob } from '../jobs/outbox';
import { RECONCILE_JOB } from '../jobs/provisioning-jobs';
import type { SagaContext } from '../store/provisioning-store';

const REQUEST_LOCK_KEY = 'silo:reconcile-request';

/** The newest reconcile request in the outbox, and whether the relay has queued it yet. */
async function latestRequest(
  em: EntityManager,
): Promise<{ job_id: string; dispatched: boolean } | undefined> {
  const [latest] = await em.query<{ job_id: string; dispatched: boolean }[]>(
    `SELECT job_id, dispatched_at IS NOT NULL AS dispatched FROM outbox
      WHERE job_name = $1 ORDER BY id DESC LIMIT 1`,
    [RECONCILE_JOB],
  );
  return latest;
}

/** What {@link Reconciliation.request} asks of the queue (libs/queue's ProvisioningQueue fits). */
export interface PendingJobs {
  /** Whether the job is queued and not started yet (waiting, prioritised or delayed). */
  isWaiting(jobId: string): Promise<boolean>;
}

/** What the API asks of the reconciler: a pass now, and what the last one did. */
@Injectable()
export class Reconciliation {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Queues a pass (through the outbox); it runs as soon as a worker is free and no other pass
   * runs. While a pass asked for earlier is still pending (in the outbox, or queued and not
   * started), that pass is the answer and nothing new is queued: callers asking at once get one
   * pass, whoever asked first its `triggeredBy`. Once it started, the next request queues another.
   * When Redis cannot say whether the last one started, a new one is queued.
   */
  async request(ctx: SagaContext, queue: PendingJobs): Promise<{ jobId: string }> {
    // The queue is asked before the lock is taken, so that a slow Redis never holds a
    // control-plane connection and the lock for every other request.
    const before = await latestRequest(this.dataSource.manager);
    if (before && (!before.dispatched || (await queue.isWaiting(before.job_id).catch(() => false)))) {
      return { jobId: before.job_id };
    }
    return this.dataSource.transaction(async (em) => {
      // Requests wait for each other here, so that two at once see one pending pass.
      await em.query('SELECT pg_advisory_xact_lock(hashtext($1))', [REQUEST_LOCK_KEY]);
      const latest = await latestRequest(em);
      // Another request queued a pass while this one asked the queue: that pass is pending.
      if (latest && latest.job_id !== before?.job_id) return { jobId: latest.job_id };
      const jobId = `reconcile-${randomUUID()}`;
      await writeOutboxJob(em, { name: RECONCILE_JOB, id: jobId, payload: { triggeredBy: ctx.actor } });
      return { jobId };
    });
  }

  /** Every open finding with its tenant's slug, critical first. */
  async openFindings(): Promise<(ReconcileFindingEntity & { slug: string })[]> {
    const rows = await this.dataSource
      .getRepository(ReconcileFindingEntity)
      .createQueryBuilder('f')
      .innerJoin('tenants', 't', 't.id = f.tenant_id')
      .addSelect('t.slug', 'slug')
      .orderBy('f.severity', 'ASC')
      .addOrderBy('t.slug', 'ASC')
      .addOrderBy('f.field', 'ASC')
      .getRawAndEntities<{ slug: string }>();
    return rows.entities.map((f, i) => Object.assign(f, { slug: rows.raw[i].slug }));
  }

  /** Every open finding on a shared host with the host's name, critical first. */
  async openHostFindings(): Promise<(ReconcileHostFindingEntity & { hostName: string })[]> {
    const rows = await this.dataSource
      .getRepository(ReconcileHostFindingEntity)
      .createQueryBuilder('f')
      .innerJoin('hosts', 'h', 'h.id = f.host_id')
      .addSelect('h.name', 'host_name')
      .orderBy('f.severity', 'ASC')
      .addOrderBy('h.name', 'ASC')
      .addOrderBy('f.field', 'ASC')
      .getRawAndEntities<{ host_name: string }>();
    return rows.entities.map((f, i) => Object.assign(f, { hostName: rows.raw[i].host_name }));
  }

  /** The open findings of these hosts, by host id, critical first. */
  async findingsOfHosts(hostIds: readonly string[]): Promise<Map<string, ReconcileHostFindingEntity[]>> {
    const byHost = new Map<string, ReconcileHostFindingEntity[]>();
    if (!hostIds.length) return byHost;
    const rows = await this.dataSource.getRepository(ReconcileHostFindingEntity).find({
      where: { hostId: In([...hostIds]) },
      order: { severity: 'ASC', field: 'ASC' },
    });
    for (const row of rows) byHost.set(row.hostId, [...(byHost.get(row.hostId) ?? []), row]);
    return byHost;
  }

  /** The orphans the last pass found, by type and name. */
  orphans(): Promise<ReconcileOrphanEntity[]> {
    return this.dataSource.getRepository(ReconcileOrphanEntity).find({ order: { type: 'ASC', name: 'ASC' } });
  }

  /** The newest pass, finished or running; null before the first. */
  lastPass(): Promise<ReconcilePassEntity | null> {
    return this.dataSource
      .getRepository(ReconcilePassEntity)
      .createQueryBuilder('p')
      .orderBy('p.started_at', 'DESC')
      .limit(1)
      .getOne();
  }
}
