import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The newest reconcile request in the outbox, found without reading the whole outbox: a second
 * POST /v1/reconcile joins the pass still pending instead of queueing another.
 */
export class OutboxReconcileRequests1795392000000 implements MigrationInterface {
  name = 'OutboxReconcileRequests1795392000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX outbox_reconcile_idx ON outbox (id) WHERE job_name = 'reconcile'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX outbox_reconcile_idx`);
  }
}
