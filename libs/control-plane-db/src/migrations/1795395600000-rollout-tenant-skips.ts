import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Skipped rollout tenants say who skipped them and why: an operator (with a reason), the
 * rollout's creator at start (excluded, or already at or past the target), the worker (a tenant
 * no longer ACTIVE or SUSPENDED). Tenants skipped at start are in no wave.
 */
export class RolloutTenantSkips1795395600000 implements MigrationInterface {
  name = 'RolloutTenantSkips1795395600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE schema_rollout_tenants ALTER COLUMN wave DROP NOT NULL`);
    await q.query(`ALTER TABLE schema_rollout_tenants ADD COLUMN skipped_by varchar(200)`);
    await q.query(`ALTER TABLE schema_rollout_tenants ADD COLUMN skip_reason text`);
    // Skips recorded before these columns: the worker's, with their reason in error_message.
    await q.query(`
      UPDATE schema_rollout_tenants SET skipped_by = 'system:worker', skip_reason = error_message, error_message = NULL
       WHERE state = 'skipped'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      UPDATE schema_rollout_tenants SET error_message = coalesce(error_message, skip_reason)
       WHERE state = 'skipped'`);
    await q.query(`ALTER TABLE schema_rollout_tenants DROP COLUMN skip_reason`);
    await q.query(`ALTER TABLE schema_rollout_tenants DROP COLUMN skipped_by`);
    await q.query(`DELETE FROM schema_rollout_tenants WHERE wave IS NULL`);
    await q.query(`ALTER TABLE schema_rollout_tenants ALTER COLUMN wave SET NOT NULL`);
  }
}
