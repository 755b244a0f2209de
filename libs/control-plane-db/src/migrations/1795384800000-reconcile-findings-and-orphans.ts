import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What the reconciler found: open drift findings per tenant (one row per tenant and field,
 * deleted when it clears), orphaned AWS resources, and the pass's counts and alarm window.
 */
export class ReconcileFindingsAndOrphans1795384800000 implements MigrationInterface {
  name = 'ReconcileFindingsAndOrphans1795384800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE reconcile_findings (
        tenant_id uuid NOT NULL,
        field varchar(200) NOT NULL,
        kind varchar(16) NOT NULL,
        severity varchar(16) NOT NULL,
        expected text NOT NULL,
        found text NOT NULL,
        first_seen_at timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        repair_error text,
        CONSTRAINT reconcile_findings_pkey PRIMARY KEY (tenant_id, field),
        CONSTRAINT reconcile_findings_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
        CONSTRAINT reconcile_findings_kind_known CHECK (kind IN ('repairable', 'reported', 'missing')),
        CONSTRAINT reconcile_findings_severity_known CHECK (severity IN ('warning', 'critical'))
      )`);
    await q.query(`
      CREATE TABLE reconcile_orphans (
        type varchar(16) NOT NULL,
        name varchar(512) NOT NULL,
        arn varchar(2048) NOT NULL,
        tenant_id varchar(200) NOT NULL,
        tags jsonb NOT NULL DEFAULT '{}',
        first_seen_at timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        deletion_requested_at timestamptz,
        deletion_error text,
        CONSTRAINT reconcile_orphans_pkey PRIMARY KEY (type, name),
        CONSTRAINT reconcile_orphans_type_known CHECK (type IN ('instance', 'secret', 'alarm', 'snapshot'))
      )`);
    await q.query(`
      ALTER TABLE reconcile_passes
        ADD COLUMN drift_checked integer NOT NULL DEFAULT 0,
        ADD COLUMN drift_repaired integer NOT NULL DEFAULT 0,
        ADD COLUMN drift_reported integer NOT NULL DEFAULT 0,
        ADD COLUMN drift_critical integer NOT NULL DEFAULT 0,
        ADD COLUMN orphans integer NOT NULL DEFAULT 0,
        ADD COLUMN alarms_checked_through uuid`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE reconcile_passes
        DROP COLUMN drift_checked, DROP COLUMN drift_repaired, DROP COLUMN drift_reported,
        DROP COLUMN drift_critical, DROP COLUMN orphans, DROP COLUMN alarms_checked_through`);
    await q.query(`DROP TABLE reconcile_orphans`);
    await q.query(`DROP TABLE reconcile_findings`);
  }
}
