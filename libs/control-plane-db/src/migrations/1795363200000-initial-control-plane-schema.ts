import type { MigrationInterface, QueryRunner } from 'typeorm';

export class InitialControlPlaneSchema1795363200000 implements MigrationInterface {
  name = 'InitialControlPlaneSchema1795363200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tenants (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        slug varchar(32) NOT NULL,
        name varchar(200) NOT NULL,
        tier varchar(32) NOT NULL,
        status varchar(16) NOT NULL,
        created_by varchar(200),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        version integer NOT NULL DEFAULT 1,
        db_instance_identifier varchar(63),
        db_instance_class varchar(64),
        db_engine varchar(32),
        db_engine_version varchar(32),
        db_multi_az boolean,
        db_storage_encrypted boolean,
        db_endpoint_host varchar(255),
        db_endpoint_port integer,
        db_name varchar(63),
        master_secret_arn varchar(2048),
        app_secret_arn varchar(2048),
        schema_version varchar(64),
        failure_code varchar(64),
        failure_message text,
        failure_step varchar(40),
        CONSTRAINT tenants_slug_key UNIQUE (slug),
        CONSTRAINT tenants_slug_format CHECK (slug ~ '^[a-z][a-z0-9-]{1,30}[a-z0-9]$' AND position('--' in slug) = 0),
        CONSTRAINT tenants_status_known CHECK (status IN
          ('PENDING','PROVISIONING','ACTIVE','SUSPENDED','FAILED','DEPROVISIONING','DELETED')),
        CONSTRAINT tenants_endpoint_port_range CHECK (db_endpoint_port BETWEEN 1 AND 65535)
      )`);
    await q.query(`CREATE INDEX tenants_created_at_id_idx ON tenants (created_at, id)`);
    await q.query(`CREATE INDEX tenants_status_idx ON tenants (status)`);

    await q.query(`
      CREATE TABLE tenant_events (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
        at timestamptz NOT NULL DEFAULT now(),
        type varchar(64) NOT NULL,
        message text NOT NULL,
        actor varchar(200) NOT NULL,
        data jsonb NOT NULL DEFAULT '{}'::jsonb,
        correlation_id varchar(128)
      )`);
    await q.query(`CREATE INDEX tenant_events_tenant_id_id_idx ON tenant_events (tenant_id, id)`);
    // The audit trail is append-only in the database itself, not only by convention in code.
    await q.query(`
      CREATE FUNCTION silo_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
      END
      $$`);
    await q.query(`
      CREATE TRIGGER tenant_events_append_only BEFORE UPDATE OR DELETE ON tenant_events
      FOR EACH ROW EXECUTE FUNCTION silo_refuse_change()`);
    await q.query(`
      CREATE TRIGGER tenant_events_no_truncate BEFORE TRUNCATE ON tenant_events
      FOR EACH STATEMENT EXECUTE FUNCTION silo_refuse_change()`);

    await q.query(`
      CREATE TABLE provisioning_steps (
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
        saga varchar(16) NOT NULL,
        step varchar(40) NOT NULL,
        position smallint NOT NULL,
        status varchar(16) NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        started_at timestamptz,
        finished_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now(),
        last_error_code varchar(64),
        last_error_message text,
        PRIMARY KEY (tenant_id, saga, step),
        CONSTRAINT provisioning_steps_saga_known CHECK (saga IN ('provision','deprovision')),
        CONSTRAINT provisioning_steps_status_known CHECK (status IN
          ('pending','running','waiting','done','failed','compensated')),
        CONSTRAINT provisioning_steps_attempts_positive CHECK (attempts >= 0)
      )`);

    await q.query(`
      CREATE TABLE outbox (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        queue varchar(64) NOT NULL,
        job_name varchar(64) NOT NULL,
        job_id varchar(128) NOT NULL,
        payload jsonb NOT NULL,
        job_options jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        available_at timestamptz NOT NULL DEFAULT now(),
        attempts integer NOT NULL DEFAULT 0,
        last_error text,
        dispatched_at timestamptz
      )`);
    // The relay only ever scans what is still to send.
    await q.query(`CREATE INDEX outbox_pending_idx ON outbox (available_at, id) WHERE dispatched_at IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE outbox`);
    await q.query(`DROP TABLE provisioning_steps`);
    await q.query(`DROP TABLE tenant_events`);
    await q.query(`DROP FUNCTION silo_refuse_change()`);
    await q.query(`DROP TABLE tenants`);
  }
}
