import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { ReconcileFindingEntity, ReconcileOrphanEntity, ReconcilePassEntity } from '@silo/control-plane-db';
import { DataSource } from 'typeorm';
import { writeOutboxJob } from '../jobs/outbox';
import { RECONCILE_JOB } from '../jobs/provisioning-jobs';
import type { SagaContext } from '../store/provisioning-store';

/** What the API asks of the reconciler: a pass now, and what the last one did. */
@Injectable()
export class Reconciliation {
  constructor(private readonly dataSource: DataSource) {}

  /** Queues a pass (through the outbox); it runs as soon as a worker is free and no other pass runs. */
  async request(ctx: SagaContext): Promise<{ jobId: string }> {
    const jobId = `reconcile-${randomUUID()}`;
    await this.dataSource.transaction((em) =>
      writeOutboxJob(em, { name: RECONCILE_JOB, id: jobId, payload: { triggeredBy: ctx.actor } }),
    );
    return { jobId };
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
