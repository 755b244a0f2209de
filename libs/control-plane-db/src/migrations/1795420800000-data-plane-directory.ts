import { DATA_PLANE_ROLE, DATA_PLANE_SCHEMA, quoteIdentifier, TENANT_DIRECTORY_VIEW } from '@silo/core';
import type { MigrationInterface, QueryRunner } from 'typeorm';

const role = quoteIdentifier(DATA_PLANE_ROLE, 'data-plane role');
const schema = quoteIdentifier(DATA_PLANE_SCHEMA, 'data-plane schema');
const view = `${schema}.${quoteIdentifier(TENANT_DIRECTORY_VIEW, 'tenant directory view')}`;

/**
 * What the data plane may read of the control plane: the view `data_plane.tenant_directory`
 * (a tenant's id, slug, tier, status, schema version, placement and its host's id and name), and
 * the role `silo_data_plane` that may connect and read that view, nothing else. The view is the
 * migrating user's and reads the tables with its rights (not security_invoker), so the role needs
 * no privilege on any table. The role is NOLOGIN here: the data-plane login step
 * (`ensureDataPlaneLogin`, `migrate --data-plane-login`) gives it its password.
 *
 * Roles belong to the cluster, not the database: every control-plane database on one server
 * shares this one, so it is created only when missing, and kept on the way down while another
 * database still grants it something.
 */
export class DataPlaneDirectory1795420800000 implements MigrationInterface {
  name = 'DataPlaneDirectory1795420800000';

  async up(q: QueryRunner): Promise<void> {
    // Two databases migrating at once may both find the role missing: the loser's CREATE ROLE
    // fails with duplicate_object (or unique_violation on pg_authid), caught in the block's own
    // subtransaction so that this migration's transaction goes on.
    await q.query(`
      DO $$
      BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${DATA_PLANE_ROLE}') THEN
          CREATE ROLE ${role} NOLOGIN;
        END IF;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
      END
      $$`);
    await q.query(`CREATE SCHEMA ${schema}`);
    await q.query(`
      CREATE VIEW ${view} AS
        SELECT t.id, t.slug, t.tier, t.status, t.schema_version, t.placement, t.host_id, h.name AS host_name
          FROM public.tenants t LEFT JOIN public.hosts h ON h.id = t.host_id`);
    await q.query(
      `COMMENT ON VIEW ${view} IS 'The tenant directory of the data plane (libs/tenant-router), read as ${DATA_PLANE_ROLE}'`,
    );

    const [{ database }] = (await q.query(`SELECT current_database() AS database`)) as { database: string }[];
    await q.query(`GRANT CONNECT ON DATABASE ${quoteIdentifier(database, 'database name')} TO ${role}`);
    await q.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
    await q.query(`GRANT SELECT ON ${view} TO ${role}`);
    // Nothing else, whatever was granted to the role by hand before.
    await q.query(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${role}`);
    await q.query(`REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM ${role}`);
    await refuseCreateInPublic(q);
  }

  async down(q: QueryRunner): Promise<void> {
    const [{ database }] = (await q.query(`SELECT current_database() AS database`)) as { database: string }[];
    await q.query(`REVOKE ALL ON DATABASE ${quoteIdentifier(database, 'database name')} FROM ${role}`);
    await q.query(`DROP VIEW ${view}`);
    await q.query(`DROP SCHEMA ${schema}`);
    // CREATE on schema public, if up() revoked it from PUBLIC, is not given back: it let every role write.
    // Dropped only when nothing in any database of the cluster refers to it any more (pg_shdepend
    // holds every database's grants to it and what it owns). Another control-plane database on
    // this server still granting it CONNECT keeps it, password and all: it is theirs too. A grant
    // made between the check and the drop fails the drop, which leaves the role as well.
    await q.query(`
      DO $$
      BEGIN
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = '${DATA_PLANE_ROLE}')
           AND NOT EXISTS (
             SELECT FROM pg_shdepend
              WHERE refclassid = 'pg_authid'::regclass
                AND refobjid = (SELECT oid FROM pg_roles WHERE rolname = '${DATA_PLANE_ROLE}'))
        THEN
          DROP ROLE ${role};
        END IF;
      EXCEPTION WHEN dependent_objects_still_exist THEN
        NULL;
      END
      $$`);
  }
}

/**
 * Before PostgreSQL 15 every role may create tables in schema `public` (PUBLIC holds CREATE on
 * it), the data-plane role too, and privileges granted to PUBLIC cannot be withheld from one
 * role. Where PUBLIC holds it, it is revoked when this user may (it owns the schema, or is a
 * superuser); otherwise the migration stops, saying what its owner must run, rather than leave
 * the data plane a way to write.
 */
async function refuseCreateInPublic(q: QueryRunner): Promise<void> {
  const [state] = (await q.query(`
    SELECT has_schema_privilege('public', n.oid, 'CREATE') AS public_creates,
           pg_has_role(current_user, n.nspowner, 'USAGE')
             OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS may_revoke,
           pg_get_userbyid(n.nspowner) AS owner,
           current_user AS migrator
      FROM pg_namespace n WHERE n.nspname = 'public'`)) as {
    public_creates: boolean;
    may_revoke: boolean;
    owner: string;
    migrator: string;
  }[];
  if (!state?.public_creates) return;
  if (!state.may_revoke) {
    throw new Error(
      `every role may create tables in schema public of this database (PUBLIC holds CREATE on it, the default before PostgreSQL 15), ${DATA_PLANE_ROLE} too; ` +
        `as ${state.owner}, the schema's owner, run "GRANT CREATE ON SCHEMA public TO ${state.migrator}; REVOKE CREATE ON SCHEMA public FROM PUBLIC;" and migrate again`,
    );
  }
  await q.query(`REVOKE CREATE ON SCHEMA public FROM PUBLIC`);
}
