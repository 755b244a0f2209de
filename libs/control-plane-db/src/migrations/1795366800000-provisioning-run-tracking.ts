import type { MigrationInterface, QueryRunner } from 'typeorm';

/** When the current provisioning (or deprovisioning) run started, and which run it is. */
export class ProvisioningRunTracking1795366800000 implements MigrationInterface {
  name = 'ProvisioningRunTracking1795366800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tenants ADD COLUMN provisioning_run integer NOT NULL DEFAULT 1`);
    await q.query(`ALTER TABLE tenants ADD COLUMN saga_started_at timestamptz`);
    await q.query(
      `ALTER TABLE tenants ADD CONSTRAINT tenants_provisioning_run_positive CHECK (provisioning_run >= 1)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tenants DROP CONSTRAINT tenants_provisioning_run_positive`);
    await q.query(`ALTER TABLE tenants DROP COLUMN saga_started_at`);
    await q.query(`ALTER TABLE tenants DROP COLUMN provisioning_run`);
  }
}
