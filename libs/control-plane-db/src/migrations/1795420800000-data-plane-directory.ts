import { DATA_PLANE_SCHEMA, dataPlaneRole, quoteIdentifier, TENANT_DIRECTORY_VIEW } from '@silo/core';
import type { MigrationInterface, QueryRunner } from 'typeorm';

const schema = quoteIdentifier(DATA_PLANE_SCHEMA, 'data-plane schema');
const view = `${schema}.${quoteIdentifier(TENANT_DIRECTORY_VIEW, 'tenant directory view')}`;

/**
 * What the data plane may read of the control plane: the view `data_plane.tenant_directory`
 * (a tenant's id, slug, tier, status, schema version, placement and its host's id and name), and
 * the role `<database>_data_plane` (`dataPlaneRole`: `silo_data_plane` for the database `silo`)
 * that may connect to this database and read that view, nothing else. The view is the migrating
 * user's and reads the tables with its rights (not security_invoker), so the role needs no
 * privilege on any table. The role is NOLOGIN here: the data-plane login step
 * (`ensureDataPlaneLogin`, `migrate --data-plane-login`) gives it its password.
 *
 * Roles belong to the server, not to a database: the role is named after this database so that
 * two control planes on one server never share one login (nor its password).
 */
export class DataPlaneDirectory1795420800000 implements MigrationInterface {
  name = 'DataPlaneDirectory1795420800000';

  async up(q: QueryRunner): Promise<void> {
    const { database, role, roleName } = await names(q);
    // Made again by a migration that ran before on a database of the same name, dropped since:
    // the role stays, and is reset below to hold nothing but what this grants.
    await q.query(`
      DO $$
      BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${roleName}') THEN
          CREATE ROLE ${role} NOLOGIN;
        END IF;
      EXCEPTION
        WHEN duplicate_object OR unique_violation THEN
          NULL;
        WHEN insufficient_privilege THEN
          RAISE EXCEPTION 'the migrating user % may not create roles, and the data plane needs its own: grant it CREATEROLE (RDS''s master user has it), or create the role ${roleName} NOLOGIN as a user who may, and migrate again', current_user;
      END
      $$`);
    await q.query(`CREATE SCHEMA ${schema}`);
    await q.query(`
      CREATE VIEW ${view} AS
        SELECT t.id, t.slug, t.tier, t.status, t.schema_version, t.placement, t.host_id, h.name AS host_name
          FROM public.tenants t LEFT JOIN public.hosts h ON h.id = t.host_id`);
    await q.query(
      `COMMENT ON VIEW ${view} IS 'The tenant directory of the data plane (@silo/tenant-router), read as ${roleName}'`,
    );
    await q.query(`GRANT CONNECT ON DATABASE ${quoteIdentifier(database, 'database name')} TO ${role}`);
    await q.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
    await q.query(`GRANT SELECT ON ${view} TO ${role}`);
    // Nothing else, whatever was granted to the role by hand before.
    await q.query(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${role}`);
    await q.query(`REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM ${role}`);
    await refuseCreateInPublic(q, roleName);
  }

  async down(q: QueryRunner): Promise<void> {
    const { database, role, roleName } = await names(q);
    await q.query(`REVOKE ALL ON DATABASE ${quoteIdentifier(database, 'database name')} FROM ${role}`);
    await q.query(`DROP VIEW ${view}`);
    await q.query(`DROP SCHEMA ${schema}`);
    // This database's own role; kept only if something else (granted by hand) still refers to it.
    await q.query(`
      DO $$
      BEGIN
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = '${roleName}') THEN
          DROP ROLE ${role};
        END IF;
      EXCEPTION WHEN dependent_objects_still_exist THEN
        NULL;
      END
      $$`);
  }
}

/** This database's name and its data-plane role's, validated and quoted. */
async function names(q: QueryRunner): Promise<{ database: string; role: string; roleName: string }> {
  const [{ database }] = (await q.query(`SELECT current_database() AS database`)) as { database: string }[];
  const roleName = dataPlaneRole(database);
  // quoteIdentifier refuses anything but a plain identifier, so the name is safe in a literal too.
  return { database, role: quoteIdentifier(roleName, 'data-plane role'), roleName };
}

/**
 * Before PostgreSQL 15 every role may create tables in schema `public` (PUBLIC holds CREATE on
 * it), the data-plane role too, and privileges granted to PUBLIC cannot be withheld from one
 * role. Where PUBLIC holds it, it is revoked when this user may (it owns the schema, or is a
 * superuser); otherwise the migration stops, saying what its owner must run, rather than leave
 * the data plane a way to write.
 */
async function refuseCreateInPublic(q: QueryRunner, roleName: string): Promise<void> {
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
      `every role may create tables in schema public of this database (PUBLIC holds CREATE on it, the default before PostgreSQL 15), ${roleName} too; ` +
        `as ${state.owner}, the schema's owner, run "GRANT CREATE ON SCHEMA public TO ${state.migrator}; REVOKE CREATE ON SCHEMA public FROM PUBLIC;" and migrate again`,
    );
  }
  await q.query(`REVOKE CREATE ON SCHEMA public FROM PUBLIC`);
}
