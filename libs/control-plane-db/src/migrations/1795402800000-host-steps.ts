import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The step journal of the shared hosts' sagas (create, delete): one row per host, saga and step,
 * as `provisioning_steps` is for tenants (which references tenants, so hosts need their own).
 * A host's saga runs once per host, so there is no run number. `hosts.schema_version` is the
 * version of a pool host's pool database (null for schema hosts, whose tenants each have theirs).
 */
export class HostSteps1795402800000 implements MigrationInterface {
  name = 'HostSteps1795402800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE host_steps (
        host_id uuid NOT NULL,
        saga varchar(16) NOT NULL,
        step varchar(40) NOT NULL,
        position smallint NOT NULL,
        status varchar(16) NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        failures integer NOT NULL DEFAULT 0,
        started_at timestamptz,
        finished_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now(),
        last_error_code varchar(64),
        last_error_message text,
        CONSTRAINT host_steps_pkey PRIMARY KEY (host_id, saga, step),
        CONSTRAINT host_steps_host_id_fkey FOREIGN KEY (host_id) REFERENCES hosts (id) ON DELETE RESTRICT,
        CONSTRAINT host_steps_saga_known CHECK (saga IN ('create','delete')),
        CONSTRAINT host_steps_status_known CHECK (status IN ('pending','running','waiting','done','failed','compensated')),
        CONSTRAINT host_steps_attempts_positive CHECK (attempts >= 0),
        CONSTRAINT host_steps_failures_positive CHECK (failures >= 0)
      )`);
    await q.query(`ALTER TABLE hosts ADD COLUMN schema_version varchar(64)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE hosts DROP COLUMN schema_version`);
    await q.query(`DROP TABLE host_steps`);
  }
}
