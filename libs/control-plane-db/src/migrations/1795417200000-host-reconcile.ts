import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The reconciler looks at shared hosts as it looks at tenants: open drift findings per host (one
 * row per host and field, deleted when it clears or the host is no longer `available`), and how
 * many hosts a pass compared.
 */
export class HostReconcile1795417200000 implements MigrationInterface {
  name = 'HostReconcile1795417200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE reconcile_host_findings (
        host_id uuid NOT NULL,
        field varchar(200) NOT NULL,
        kind varchar(16) NOT NULL,
        severity varchar(16) NOT NULL,
        expected text NOT NULL,
        found text NOT NULL,
        first_seen_at timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        repair_error text,
        CONSTRAINT reconcile_host_findings_pkey PRIMARY KEY (host_id, field),
        CONSTRAINT reconcile_host_findings_host_fkey FOREIGN KEY (host_id) REFERENCES hosts (id) ON DELETE CASCADE,
        CONSTRAINT reconcile_host_findings_kind_known CHECK (kind IN ('repairable', 'reported', 'missing')),
        CONSTRAINT reconcile_host_findings_severity_known CHECK (severity IN ('warning', 'critical'))
      )`);
    await q.query(`ALTER TABLE reconcile_passes ADD COLUMN hosts_checked integer NOT NULL DEFAULT 0`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE reconcile_passes DROP COLUMN hosts_checked`);
    await q.query(`DROP TABLE reconcile_host_findings`);
  }
}
