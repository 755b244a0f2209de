import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The reconciler's passes: started, finished, what they checked and re-drove. */
export class ReconcilePasses1795381200000 implements MigrationInterface {
  name = 'ReconcilePasses1795381200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE reconcile_passes (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        triggered_by varchar(200) NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        tenants_checked integer NOT NULL DEFAULT 0,
        redriven integer NOT NULL DEFAULT 0,
        error text,
        CONSTRAINT reconcile_passes_pkey PRIMARY KEY (id)
      )`);
    await q.query(`CREATE INDEX reconcile_passes_started_at_idx ON reconcile_passes (started_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE reconcile_passes`);
  }
}
