import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Schema rollouts: the rollout, each of its tenants (wave, state, what stopped it) and its audit
 * trail. At most one rollout is open (RUNNING or PAUSED): a partial unique index decides races.
 */
export class SchemaRollouts1795377600000 implements MigrationInterface {
  name = 'SchemaRollouts1795377600000';

  async up(q: QueryRunner): Promise<void> {
    // Tenants migrated by the TypeORM ledger of earlier versions are at the built-in 0001 now
    // (their tenant databases' ledgers are adopted the same way on the next migration).
    await q.query(
      `UPDATE tenants SET schema_version = '0001' WHERE schema_version = 'TenantNotes1795400000000'`,
    );
    await q.query(`
      CREATE TABLE schema_rollouts (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        status varchar(16) NOT NULL,
        target_version varchar(64) NOT NULL,
        canary integer NOT NULL,
        wave_percents jsonb NOT NULL,
        plan jsonb NOT NULL,
        max_concurrency integer NOT NULL,
        failure_threshold integer NOT NULL,
        pause_between_waves boolean NOT NULL,
        tiers jsonb,
        current_wave integer NOT NULL DEFAULT 0,
        approved_wave integer NOT NULL DEFAULT 0,
        pause_kind varchar(16),
        paused_reason text,
        created_by varchar(200) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        CONSTRAINT schema_rollouts_pkey PRIMARY KEY (id),
        CONSTRAINT schema_rollouts_status_known CHECK (status IN ('RUNNING','PAUSED','SUCCEEDED','ABORTED','FAILED')),
        CONSTRAINT schema_rollouts_pause_kind_known CHECK (pause_kind IN ('operator','failures','approval'))
      )`);
    await q.query(`CREATE INDEX schema_rollouts_created_at_id_idx ON schema_rollouts (created_at, id)`);
    await q.query(
      `CREATE UNIQUE INDEX schema_rollouts_one_open ON schema_rollouts ((true)) WHERE status IN ('RUNNING','PAUSED')`,
    );

    await q.query(`
      CREATE TABLE schema_rollout_tenants (
        rollout_id uuid NOT NULL,
        tenant_id uuid NOT NULL,
        wave integer NOT NULL,
        position integer NOT NULL,
        state varchar(16) NOT NULL,
        attempt integer NOT NULL DEFAULT 0,
        failures integer NOT NULL DEFAULT 0,
        from_version varchar(64),
        reached_version varchar(64),
        failed_migration varchar(255),
        sql_state varchar(5),
        error_code varchar(64),
        error_message text,
        started_at timestamptz,
        finished_at timestamptz,
        CONSTRAINT schema_rollout_tenants_pkey PRIMARY KEY (rollout_id, tenant_id),
        CONSTRAINT schema_rollout_tenants_state_known CHECK (state IN ('pending','running','succeeded','failed','skipped')),
        CONSTRAINT schema_rollout_tenants_rollout_id_fkey FOREIGN KEY (rollout_id) REFERENCES schema_rollouts (id) ON DELETE CASCADE,
        CONSTRAINT schema_rollout_tenants_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT
      )`);
    await q.query(
      `CREATE INDEX schema_rollout_tenants_dispatch_idx ON schema_rollout_tenants (rollout_id, state, wave, position)`,
    );

    await q.query(`
      CREATE TABLE schema_rollout_events (
        id bigint GENERATED ALWAYS AS IDENTITY,
        rollout_id uuid NOT NULL,
        at timestamptz NOT NULL DEFAULT now(),
        type varchar(64) NOT NULL,
        message text NOT NULL,
        actor varchar(200) NOT NULL,
        data jsonb NOT NULL DEFAULT '{}',
        correlation_id varchar(128),
        CONSTRAINT schema_rollout_events_pkey PRIMARY KEY (id),
        CONSTRAINT schema_rollout_events_rollout_id_fkey FOREIGN KEY (rollout_id) REFERENCES schema_rollouts (id) ON DELETE CASCADE
      )`);
    await q.query(
      `CREATE INDEX schema_rollout_events_rollout_id_id_idx ON schema_rollout_events (rollout_id, id)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE schema_rollout_events`);
    await q.query(`DROP TABLE schema_rollout_tenants`);
    await q.query(`DROP TABLE schema_rollouts`);
    await q.query(
      `UPDATE tenants SET schema_version = 'TenantNotes1795400000000' WHERE schema_version = '0001'`,
    );
  }
}
