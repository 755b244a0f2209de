import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Steps are kept per provisioning run, so that a retry starts from clean rows and the earlier
 * run's record (attempts, compensations) stays readable. Idempotency keys of POST /v1/tenants
 * remember, per caller, which request a key was first used for and which tenant it made.
 */
export class ProvisioningRunsAndIdempotency1795374000000 implements MigrationInterface {
  name = 'ProvisioningRunsAndIdempotency1795374000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE provisioning_steps ADD COLUMN run integer NOT NULL DEFAULT 1`);
    await q.query(`ALTER TABLE provisioning_steps ALTER COLUMN run DROP DEFAULT`);
    await q.query(
      `ALTER TABLE provisioning_steps ADD CONSTRAINT provisioning_steps_run_positive CHECK (run >= 1)`,
    );
    await q.query(`ALTER TABLE provisioning_steps DROP CONSTRAINT provisioning_steps_pkey`);
    await q.query(
      `ALTER TABLE provisioning_steps ADD CONSTRAINT provisioning_steps_pkey PRIMARY KEY (tenant_id, saga, run, step)`,
    );

    await q.query(`
      CREATE TABLE idempotency_keys (
        caller varchar(255) NOT NULL,
        key varchar(255) NOT NULL,
        request_hash char(64) NOT NULL,
        tenant_id uuid REFERENCES tenants (id) ON DELETE RESTRICT,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        CONSTRAINT idempotency_keys_pkey PRIMARY KEY (caller, key)
      )`);
    await q.query(`CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE idempotency_keys`);
    await q.query(`DELETE FROM provisioning_steps WHERE run > 1`);
    await q.query(`ALTER TABLE provisioning_steps DROP CONSTRAINT provisioning_steps_pkey`);
    await q.query(
      `ALTER TABLE provisioning_steps ADD CONSTRAINT provisioning_steps_pkey PRIMARY KEY (tenant_id, saga, step)`,
    );
    await q.query(`ALTER TABLE provisioning_steps DROP CONSTRAINT provisioning_steps_run_positive`);
    await q.query(`ALTER TABLE provisioning_steps DROP COLUMN run`);
  }
}
