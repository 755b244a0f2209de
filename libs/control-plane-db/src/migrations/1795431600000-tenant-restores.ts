import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Restoring a tenant: a restore is a change of kind `restore` (journal under saga `restore`), and
 * each restore copy it leaves beside the live tenant is a row of `tenant_restore_copies`: where
 * the copy lives, the secret of its read-only login (a name, never a value), and when it goes.
 */
export class TenantRestores1795431600000 implements MigrationInterface {
  name = 'TenantRestores1795431600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tenant_changes DROP CONSTRAINT tenant_changes_kind_known`);
    await q.query(
      `ALTER TABLE tenant_changes ADD CONSTRAINT tenant_changes_kind_known CHECK (kind IN ('tier', 'rotation', 'move', 'restore'))`,
    );
    await q.query(`ALTER TABLE provisioning_steps DROP CONSTRAINT provisioning_steps_saga_known`);
    await q.query(
      `ALTER TABLE provisioning_steps ADD CONSTRAINT provisioning_steps_saga_known CHECK (saga IN ('provision','deprovision','modify','rotate','move','restore'))`,
    );
    await q.query(`
      CREATE TABLE tenant_restore_copies (
        tenant_id uuid NOT NULL,
        run integer NOT NULL,
        status varchar(16) NOT NULL,
        source jsonb NOT NULL,
        region varchar(32),
        instance_identifier varchar(63) NOT NULL,
        reader_secret_name varchar(512) NOT NULL,
        master_secret_name varchar(512) NOT NULL,
        endpoint_host varchar(255),
        endpoint_port integer,
        database_name varchar(63),
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        removed_at timestamptz,
        CONSTRAINT tenant_restore_copies_pkey PRIMARY KEY (tenant_id, run),
        CONSTRAINT tenant_restore_copies_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE,
        CONSTRAINT tenant_restore_copies_status_known CHECK (status IN ('AVAILABLE', 'REMOVING', 'REMOVED')),
        CONSTRAINT tenant_restore_copies_run_positive CHECK (run >= 1)
      )`);
    await q.query(
      `CREATE INDEX tenant_restore_copies_expiring ON tenant_restore_copies (expires_at) WHERE status <> 'REMOVED'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE tenant_restore_copies`);
    await q.query(`DELETE FROM provisioning_steps WHERE saga = 'restore'`);
    await q.query(`ALTER TABLE provisioning_steps DROP CONSTRAINT provisioning_steps_saga_known`);
    await q.query(
      `ALTER TABLE provisioning_steps ADD CONSTRAINT provisioning_steps_saga_known CHECK (saga IN ('provision','deprovision','modify','rotate','move'))`,
    );
    await q.query(`DELETE FROM tenant_changes WHERE kind = 'restore'`);
    await q.query(`ALTER TABLE tenant_changes DROP CONSTRAINT tenant_changes_kind_known`);
    await q.query(
      `ALTER TABLE tenant_changes ADD CONSTRAINT tenant_changes_kind_known CHECK (kind IN ('tier', 'rotation', 'move'))`,
    );
  }
}
