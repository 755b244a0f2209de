import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Undeleting a tenant: an undelete is a change of kind `undelete` (journal under saga `undelete`)
 * on a DELETED tenant, which stays DELETED until its last step makes it ACTIVE again.
 */
export class TenantUndelete1795438800000 implements MigrationInterface {
  name = 'TenantUndelete1795438800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tenant_changes DROP CONSTRAINT tenant_changes_kind_known`);
    await q.query(
      `ALTER TABLE tenant_changes ADD CONSTRAINT tenant_changes_kind_known CHECK (kind IN ('tier', 'rotation', 'move', 'restore', 'undelete'))`,
    );
    await q.query(`ALTER TABLE provisioning_steps DROP CONSTRAINT provisioning_steps_saga_known`);
    await q.query(
      `ALTER TABLE provisioning_steps ADD CONSTRAINT provisioning_steps_saga_known CHECK (saga IN ('provision','deprovision','modify','rotate','move','restore','undelete'))`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM provisioning_steps WHERE saga = 'undelete'`);
    await q.query(`ALTER TABLE provisioning_steps DROP CONSTRAINT provisioning_steps_saga_known`);
    await q.query(
      `ALTER TABLE provisioning_steps ADD CONSTRAINT provisioning_steps_saga_known CHECK (saga IN ('provision','deprovision','modify','rotate','move','restore'))`,
    );
    await q.query(`DELETE FROM tenant_changes WHERE kind = 'undelete'`);
    await q.query(`ALTER TABLE tenant_changes DROP CONSTRAINT tenant_changes_kind_known`);
    await q.query(
      `ALTER TABLE tenant_changes ADD CONSTRAINT tenant_changes_kind_known CHECK (kind IN ('tier', 'rotation', 'move', 'restore'))`,
    );
  }
}
