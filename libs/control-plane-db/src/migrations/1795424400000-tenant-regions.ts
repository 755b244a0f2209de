import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Where a tenant lives: `region` on tenants and hosts, the AWS region its instance, host,
 * secrets, alarms, snapshots and exports are made in.
 *
 * The migration cannot know the deployment's region (it runs without Silo's configuration, and
 * the same SQL serves every deployment), so rows made before regions existed get NULL, which
 * means "the default region" (AWS_REGION): the code reads a NULL as that region, and
 * `npm run migrate` pins every NULL to the configured AWS_REGION right after migrating
 * (pinDefaultRegion), so that changing AWS_REGION later never moves an existing tenant on paper.
 * New rows always name their region.
 */
export class TenantRegions1795424400000 implements MigrationInterface {
  name = 'TenantRegions1795424400000';

  async up(q: QueryRunner): Promise<void> {
    for (const table of ['tenants', 'hosts']) {
      await q.query(`ALTER TABLE ${table} ADD COLUMN region varchar(32)`);
      await q.query(
        `ALTER TABLE ${table} ADD CONSTRAINT ${table}_region_format CHECK (region ~ '^[a-z]{2}(-[a-z]+)+-[0-9]$')`,
      );
    }
    // The allocator looks for a host of one placement, tier and region with room.
    await q.query(`CREATE INDEX hosts_placement_tier_region_idx ON hosts (placement, tier, region)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX hosts_placement_tier_region_idx`);
    for (const table of ['hosts', 'tenants']) {
      await q.query(`ALTER TABLE ${table} DROP CONSTRAINT ${table}_region_format`);
      await q.query(`ALTER TABLE ${table} DROP COLUMN region`);
    }
  }
}
