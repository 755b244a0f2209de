import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Rotations of a pool host's pool login: one row per rotation, numbered per host, at most one
 * running at a time. Its steps are `host_steps` rows of saga `rotate`; a host's journal holds one
 * row per saga and step, so a new rotation clears the previous one's steps when it opens, and each
 * rotation's outcome stays on its own row here. Never a password.
 */
export class HostRotations1795413600000 implements MigrationInterface {
  name = 'HostRotations1795413600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE host_rotations (
        host_id uuid NOT NULL,
        run integer NOT NULL,
        status varchar(16) NOT NULL,
        plan jsonb NOT NULL DEFAULT '{}'::jsonb,
        error_code varchar(64),
        error_message text,
        error_step varchar(40),
        requested_by varchar(200) NOT NULL,
        correlation_id varchar(200) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        CONSTRAINT host_rotations_pkey PRIMARY KEY (host_id, run),
        CONSTRAINT host_rotations_host_id_fkey FOREIGN KEY (host_id) REFERENCES hosts (id) ON DELETE RESTRICT,
        CONSTRAINT host_rotations_status_known CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED')),
        CONSTRAINT host_rotations_run_positive CHECK (run >= 1)
      )`);
    await q.query(
      `CREATE UNIQUE INDEX host_rotations_one_running ON host_rotations (host_id) WHERE status = 'RUNNING'`,
    );
    await q.query(`ALTER TABLE host_steps DROP CONSTRAINT host_steps_saga_known`);
    await q.query(
      `ALTER TABLE host_steps ADD CONSTRAINT host_steps_saga_known CHECK (saga IN ('create','delete','rotate'))`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM host_steps WHERE saga = 'rotate'`);
    await q.query(`ALTER TABLE host_steps DROP CONSTRAINT host_steps_saga_known`);
    await q.query(
      `ALTER TABLE host_steps ADD CONSTRAINT host_steps_saga_known CHECK (saga IN ('create','delete'))`,
    );
    await q.query(`DROP TABLE host_rotations`);
  }
}
