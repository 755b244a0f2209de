import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Retryable failures of a step, counted apart from its passes: a step that waits for 20 minutes
 * makes many passes, and only failures may use up its retry budget.
 */
export class StepFailures1795370400000 implements MigrationInterface {
  name = 'StepFailures1795370400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE provisioning_steps ADD COLUMN failures integer NOT NULL DEFAULT 0`);
    await q.query(
      `ALTER TABLE provisioning_steps ADD CONSTRAINT provisioning_steps_failures_positive CHECK (failures >= 0)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE provisioning_steps DROP CONSTRAINT provisioning_steps_failures_positive`);
    await q.query(`ALTER TABLE provisioning_steps DROP COLUMN failures`);
  }
}
