import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A rollout's unit of work is a migration target: a tenant's own database or schema, or a
 * host's pool database, which every pooled tenant of the host shares. `pool_host_id` names the
 * host for a pooled tenant's row (null for the others): the rows of one pool host are
 * dispatched, migrated and recorded together.
 */
export class RolloutTargets1795406400000 implements MigrationInterface {
  name = 'RolloutTargets1795406400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE schema_rollout_tenants ADD COLUMN pool_host_id uuid
        CONSTRAINT schema_rollout_tenants_pool_host_id_fkey REFERENCES hosts (id) ON DELETE RESTRICT`);
    await q.query(`
      CREATE INDEX schema_rollout_tenants_pool_host_idx ON schema_rollout_tenants (rollout_id, pool_host_id)
        WHERE pool_host_id IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX schema_rollout_tenants_pool_host_idx`);
    await q.query(`ALTER TABLE schema_rollout_tenants DROP COLUMN pool_host_id`);
  }
}
