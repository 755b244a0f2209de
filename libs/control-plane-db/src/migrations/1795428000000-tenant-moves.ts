import { DATA_PLANE_SCHEMA, quoteIdentifier, TENANT_DIRECTORY_VIEW } from '@silo/core';
import type { MigrationInterface, QueryRunner } from 'typeorm';

const view = `${quoteIdentifier(DATA_PLANE_SCHEMA, 'data-plane schema')}.${quoteIdentifier(TENANT_DIRECTORY_VIEW, 'tenant directory view')}`;

/**
 * Moving a live tenant: a move is a change of kind `move` (its from and to name a placement and
 * a region, `pool@eu-west-1`); the tenant's `route_version` counts the switches of its route, and
 * `writes_paused_at` says a cut-over holds its writes. The data plane's directory shows the
 * three it needs: region, route version and whether writes are paused. The view keeps its
 * grants (CREATE OR REPLACE only adds columns at the end).
 */
export class TenantMoves1795428000000 implements MigrationInterface {
  name = 'TenantMoves1795428000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tenants ADD COLUMN route_version integer NOT NULL DEFAULT 1`);
    await q.query(
      `ALTER TABLE tenants ADD CONSTRAINT tenants_route_version_positive CHECK (route_version >= 1)`,
    );
    await q.query(`ALTER TABLE tenants ADD COLUMN writes_paused_at timestamptz`);
    await q.query(`ALTER TABLE tenant_changes DROP CONSTRAINT tenant_changes_kind_known`);
    await q.query(
      `ALTER TABLE tenant_changes ADD CONSTRAINT tenant_changes_kind_known CHECK (kind IN ('tier', 'rotation', 'move'))`,
    );
    await q.query(`ALTER TABLE provisioning_steps DROP CONSTRAINT provisioning_steps_saga_known`);
    await q.query(
      `ALTER TABLE provisioning_steps ADD CONSTRAINT provisioning_steps_saga_known CHECK (saga IN ('provision','deprovision','modify','rotate','move'))`,
    );
    await q.query(`ALTER TABLE tenant_changes ALTER COLUMN from_value TYPE varchar(64)`);
    await q.query(`ALTER TABLE tenant_changes ALTER COLUMN to_value TYPE varchar(64)`);
    await q.query(`
      CREATE OR REPLACE VIEW ${view} AS
        SELECT t.id, t.slug, t.tier, t.status, t.schema_version, t.placement, t.host_id, h.name AS host_name,
               t.region, t.route_version, t.writes_paused_at IS NOT NULL AS writes_paused
          FROM public.tenants t LEFT JOIN public.hosts h ON h.id = t.host_id`);
  }

  async down(q: QueryRunner): Promise<void> {
    // A view's columns cannot be dropped in place: made again as it was, with its grants.
    const grantees = (await q.query(
      `SELECT DISTINCT grantee FROM information_schema.role_table_grants WHERE table_schema = $1 AND table_name = $2 AND privilege_type = 'SELECT' AND grantee <> current_user`,
      [DATA_PLANE_SCHEMA, TENANT_DIRECTORY_VIEW],
    )) as Array<{ grantee: string }>;
    await q.query(`DROP VIEW ${view}`);
    await q.query(`
      CREATE VIEW ${view} AS
        SELECT t.id, t.slug, t.tier, t.status, t.schema_version, t.placement, t.host_id, h.name AS host_name
          FROM public.tenants t LEFT JOIN public.hosts h ON h.id = t.host_id`);
    for (const { grantee } of grantees)
      await q.query(`GRANT SELECT ON ${view} TO ${quoteIdentifier(grantee, 'role')}`);
    await q.query(`DELETE FROM provisioning_steps WHERE saga = 'move'`);
    await q.query(`ALTER TABLE provisioning_steps DROP CONSTRAINT provisioning_steps_saga_known`);
    await q.query(
      `ALTER TABLE provisioning_steps ADD CONSTRAINT provisioning_steps_saga_known CHECK (saga IN ('provision','deprovision','modify','rotate'))`,
    );
    await q.query(`DELETE FROM tenant_changes WHERE kind = 'move'`);
    await q.query(`ALTER TABLE tenant_changes ALTER COLUMN from_value TYPE varchar(32)`);
    await q.query(`ALTER TABLE tenant_changes ALTER COLUMN to_value TYPE varchar(32)`);
    await q.query(`ALTER TABLE tenant_changes DROP CONSTRAINT tenant_changes_kind_known`);
    await q.query(
      `ALTER TABLE tenant_changes ADD CONSTRAINT tenant_changes_kind_known CHECK (kind IN ('tier', 'rotation'))`,
    );
    await q.query(`ALTER TABLE tenants DROP COLUMN writes_paused_at`);
    await q.query(`ALTER TABLE tenants DROP CONSTRAINT tenants_route_version_positive`);
    await q.query(`ALTER TABLE tenants DROP COLUMN route_version`);
  }
}
