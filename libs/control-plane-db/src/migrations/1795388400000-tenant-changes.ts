import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Changes to a live tenant (tier changes, credential rotations): one row per change, numbered
 * per tenant, at most one open at a time; their steps are `provisioning_steps` rows of saga
 * `modify` or `rotate` under the change's number. Tenants remember when Silo last changed their
 * instance's storage (RDS allows one storage change per six hours).
 */
export class TenantChanges1795388400000 implements MigrationInterface {
  name = 'TenantChanges1795388400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tenants ADD COLUMN change_run integer NOT NULL DEFAULT 0`);
    await q.query(`ALTER TABLE tenants ADD COLUMN storage_modified_at timestamptz`);
    await q.query(`
      CREATE TABLE tenant_changes (
        tenant_id uuid NOT NULL,
        run integer NOT NULL,
        kind varchar(16) NOT NULL,
        from_value varchar(32) NOT NULL,
        to_value varchar(32) NOT NULL,
        apply varchar(24) NOT NULL,
        status varchar(24) NOT NULL,
        plan jsonb NOT NULL DEFAULT '{}'::jsonb,
        pending_modified_values jsonb,
        error_code varchar(64),
        error_message text,
        error_step varchar(40),
        requested_by varchar(200) NOT NULL,
        correlation_id varchar(200) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        CONSTRAINT tenant_changes_pkey PRIMARY KEY (tenant_id, run),
        CONSTRAINT tenant_changes_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
        CONSTRAINT tenant_changes_kind_known CHECK (kind IN ('tier', 'rotation')),
        CONSTRAINT tenant_changes_apply_known CHECK (apply IN ('now', 'maintenance-window')),
        CONSTRAINT tenant_changes_status_known CHECK (status IN ('RUNNING', 'PENDING_MAINTENANCE', 'SUCCEEDED', 'FAILED')),
        CONSTRAINT tenant_changes_run_positive CHECK (run >= 1)
      )`);
    await q.query(
      `CREATE UNIQUE INDEX tenant_changes_one_open ON tenant_changes (tenant_id) WHERE status IN ('RUNNING', 'PENDING_MAINTENANCE')`,
    );
    await q.query(`ALTER TABLE provisioning_steps DROP CONSTRAINT provisioning_steps_saga_known`);
    await q.query(
      `ALTER TABLE provisioning_steps ADD CONSTRAINT provisioning_steps_saga_known CHECK (saga IN ('provision','deprovision','modify','rotate'))`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM provisioning_steps WHERE saga IN ('modify', 'rotate')`);
    await q.query(`ALTER TABLE provisioning_steps DROP CONSTRAINT provisioning_steps_saga_known`);
    await q.query(
      `ALTER TABLE provisioning_steps ADD CONSTRAINT provisioning_steps_saga_known CHECK (saga IN ('provision','deprovision'))`,
    );
    await q.query(`DROP TABLE tenant_changes`);
    await q.query(`ALTER TABLE tenants DROP COLUMN storage_modified_at`);
    await q.query(`ALTER TABLE tenants DROP COLUMN change_run`);
  }
}
