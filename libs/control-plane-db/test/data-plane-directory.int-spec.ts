import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { uniqueToken } from '../../../test/support/test-config';
import { databaseUrl, testServices } from '../../../test/support/test-services';
import { dataPlaneRole, quoteIdentifier } from '../../core/src';
import {
  CONTROL_PLANE_MIGRATIONS,
  controlPlaneDataSourceOptions,
  ensureDatabase,
  migrateControlPlane,
} from '../src';
import { DataPlaneDirectory1795420800000 } from '../src/migrations/1795420800000-data-plane-directory';

const created: string[] = [];
const roles: string[] = [];

function freshDatabase(): { name: string; url: string } {
  const name = `silo_dpdir_${uniqueToken()}`;
  created.push(name);
  return { name, url: databaseUrl(testServices.postgresAdminUrl, name) };
}

async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

afterAll(async () => {
  await withClient(testServices.postgresAdminUrl, async (admin) => {
    for (const name of created)
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`);
    for (const role of [...roles, ...created.map(dataPlaneRole)])
      await admin.query(`DROP ROLE IF EXISTS ${quoteIdentifier(role)}`);
  });
}, 60_000);

describe('the data-plane directory migration', () => {
  let database: { name: string; url: string };
  beforeAll(async () => {
    database = freshDatabase();
    await migrateControlPlane({ url: database.url, createDatabase: true });
  }, 30_000);

  it('makes data_plane.tenant_directory with exactly the columns the router reads, owned by the migrating user', async () => {
    await withClient(database.url, async (client) => {
      const columns = await client.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns
          WHERE table_schema = 'data_plane' AND table_name = 'tenant_directory' ORDER BY ordinal_position`,
      );
      expect(columns.rows.map((c) => c.column_name)).toEqual([
        'id',
        'slug',
        'tier',
        'status',
        'schema_version',
        'placement',
        'host_id',
        'host_name',
        'region',
        'route_version',
        'writes_paused',
      ]);
      const view = await client.query<{ owner: string; options: string[] | null; me: string }>(
        `SELECT pg_get_userbyid(c.relowner) AS owner, c.reloptions AS options, current_user AS me
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'data_plane' AND c.relname = 'tenant_directory' AND c.relkind = 'v'`,
      );
      // No security_invoker: the view reads the tables with its owner's rights.
      expect(view.rows).toEqual([{ owner: view.rows[0]?.me, options: null, me: view.rows[0]?.me }]);
    });
  });

  it('gives the data-plane role of the database CONNECT, USAGE on data_plane and SELECT on the view, and no privilege on any table or sequence', async () => {
    await withClient(database.url, async (client) => {
      const granted = await client.query(
        `SELECT has_database_privilege($1, current_database(), 'CONNECT') AS connect,
                has_schema_privilege($1, 'data_plane', 'USAGE') AS usage,
                has_schema_privilege($1, 'data_plane', 'CREATE') AS create_in_data_plane,
                has_schema_privilege($1, 'public', 'CREATE') AS create_in_public,
                has_table_privilege($1, 'data_plane.tenant_directory', 'SELECT') AS select_view,
                has_table_privilege($1, 'data_plane.tenant_directory', 'INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER') AS write_view`,
        [dataPlaneRole(database.name)],
      );
      expect(granted.rows).toEqual([
        {
          connect: true,
          usage: true,
          create_in_data_plane: false,
          create_in_public: false,
          select_view: true,
          write_view: false,
        },
      ]);
      const tables = await client.query<{ name: string; any: boolean }>(
        `SELECT c.oid::regclass::text AS name,
                CASE c.relkind WHEN 'S' THEN has_sequence_privilege($1, c.oid, 'USAGE,SELECT,UPDATE')
                ELSE has_table_privilege($1, c.oid, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER') END AS any
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')`,
        [dataPlaneRole(database.name)],
      );
      expect(tables.rows.map((t) => t.name)).toEqual(
        expect.arrayContaining(['tenants', 'tenant_events', 'hosts']),
      );
      expect(tables.rows.filter((t) => t.any)).toEqual([]);
      const role = await client.query(
        `SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = $1`,
        [dataPlaneRole(database.name)],
      );
      expect(role.rows).toEqual([
        {
          rolsuper: false,
          rolcreatedb: false,
          rolcreaterole: false,
          rolreplication: false,
          rolbypassrls: false,
        },
      ]);
    });
  });

  it('shows a tenant and its host name through the view, as the data-plane role', async () => {
    await withClient(database.url, async (client) => {
      const host = await client.query<{ id: string; name: string }>(
        `INSERT INTO hosts (name, placement, tier, ordinal, status, instance_identifier, database_name,
                            capacity_tenants, connection_budget)
         VALUES ('pool-starter-007', 'pool', 'starter', 7, 'creating', 'silo-host-pool-starter-007', 'silo_pool', 50, 40)
         RETURNING id, name`,
      );
      const tenant = await client.query<{ id: string }>(
        `INSERT INTO tenants (slug, name, tier, status, created_by, placement, host_id)
         VALUES ($1, 'Acme', 'starter', 'PROVISIONING', 'ops-1', 'pool', $2) RETURNING id`,
        [`t-${uniqueToken()}`, host.rows[0].id],
      );
      await client.query('BEGIN');
      try {
        await client.query(`SET LOCAL ROLE ${quoteIdentifier(dataPlaneRole(database.name))}`);
        const rows = await client.query(
          'SELECT placement, host_id, host_name FROM data_plane.tenant_directory WHERE id = $1',
          [tenant.rows[0].id],
        );
        expect(rows.rows).toEqual([
          { placement: 'pool', host_id: host.rows[0].id, host_name: 'pool-starter-007' },
        ]);
      } finally {
        await client.query('ROLLBACK');
      }
    });
  });

  it('lets several databases migrate at once, each with a role of its own that reads its view alone', async () => {
    const databases = [freshDatabase(), freshDatabase(), freshDatabase()];
    await Promise.all(databases.map((d) => migrateControlPlane({ url: d.url, createDatabase: true })));
    const roleNames = databases.map((d) => dataPlaneRole(d.name));
    expect(new Set(roleNames).size).toBe(3);
    for (const d of databases) {
      await withClient(d.url, async (client) => {
        const acl = await client.query<{ granted: boolean[] }>(
          `SELECT ARRAY(SELECT has_table_privilege(r, 'data_plane.tenant_directory', 'SELECT')
                          FROM unnest($1::text[]) AS r) AS granted`,
          [roleNames],
        );
        expect(acl.rows).toEqual([{ granted: databases.map((other) => other === d) }]);
      });
    }
  }, 30_000);

  it('takes CREATE on schema public from PUBLIC where PUBLIC holds it (the default before PostgreSQL 15)', async () => {
    const d = freshDatabase();
    await ensureDatabase(d.url);
    await withClient(d.url, (client) => client.query('GRANT CREATE ON SCHEMA public TO PUBLIC'));
    await migrateControlPlane({ url: d.url });
    await withClient(d.url, async (client) => {
      const state = await client.query(
        `SELECT has_schema_privilege('public', 'public', 'CREATE') AS public_creates,
                has_schema_privilege($1, 'public', 'CREATE') AS data_plane_creates`,
        [dataPlaneRole(d.name)],
      );
      expect(state.rows).toEqual([{ public_creates: false, data_plane_creates: false }]);
    });
  }, 30_000);

  it("stops, saying what the schema's owner must run, when PUBLIC may create in public and the migrating user cannot revoke it", async () => {
    const d = freshDatabase();
    const migrator = `silo_test_migrator_${uniqueToken()}`;
    roles.push(migrator);
    await withClient(testServices.postgresAdminUrl, async (admin) => {
      // CREATEROLE, as RDS's master user has: the migration makes the database's data-plane role.
      await admin.query(`CREATE ROLE ${quoteIdentifier(migrator)} LOGIN CREATEROLE`);
      await admin.query(`CREATE DATABASE ${quoteIdentifier(d.name)} OWNER ${quoteIdentifier(migrator)}`);
    });
    await withClient(d.url, async (client) => {
      await client.query('ALTER SCHEMA public OWNER TO CURRENT_USER');
      await client.query('GRANT CREATE ON SCHEMA public TO PUBLIC');
    });
    const asMigrator = new URL(d.url);
    asMigrator.username = migrator;
    await expect(migrateControlPlane({ url: asMigrator.toString() })).rejects.toThrow(
      `run "GRANT CREATE ON SCHEMA public TO ${migrator}; REVOKE CREATE ON SCHEMA public FROM PUBLIC;" and migrate again`,
    );
    // Nothing of the migration stays: its transaction was rolled back.
    await withClient(d.url, async (client) => {
      const schema = await client.query(`SELECT 1 FROM pg_namespace WHERE nspname = 'data_plane'`);
      expect(schema.rowCount).toBe(0);
    });
  }, 30_000);

  it('stops, naming CREATEROLE, when the migrating user may not create the data-plane role', async () => {
    const d = freshDatabase();
    const migrator = `silo_test_migrator_${uniqueToken()}`;
    roles.push(migrator);
    await withClient(testServices.postgresAdminUrl, async (admin) => {
      await admin.query(`CREATE ROLE ${quoteIdentifier(migrator)} LOGIN`);
      await admin.query(`CREATE DATABASE ${quoteIdentifier(d.name)} OWNER ${quoteIdentifier(migrator)}`);
    });
    const asMigrator = new URL(d.url);
    asMigrator.username = migrator;
    await expect(migrateControlPlane({ url: asMigrator.toString() })).rejects.toThrow(
      `the migrating user ${migrator} may not create roles, and the data plane needs its own: grant it CREATEROLE`,
    );
  }, 30_000);

  it('reverts to no view, no schema and no role', async () => {
    const d = freshDatabase();
    await migrateControlPlane({ url: d.url, createDatabase: true });
    const ds = await new DataSource(
      controlPlaneDataSourceOptions({
        url: d.url,
        poolMax: 1,
        connectTimeoutMs: 3000,
        applicationName: 'silo-test',
      }),
    ).initialize();
    try {
      // Undo the migrations after it, then it.
      const later =
        CONTROL_PLANE_MIGRATIONS.length -
        1 -
        CONTROL_PLANE_MIGRATIONS.indexOf(DataPlaneDirectory1795420800000);
      for (let i = 0; i < later; i++) await ds.undoLastMigration();
      await ds.undoLastMigration();
      expect(await ds.query(`SELECT 1 FROM pg_namespace WHERE nspname = 'data_plane'`)).toEqual([]);
      const acl = await ds.query<{ acl: string | null }[]>(
        `SELECT datacl::text AS acl FROM pg_database WHERE datname = current_database()`,
      );
      expect(acl[0].acl ?? '').not.toContain(dataPlaneRole(d.name));
      expect(
        await ds.query(`SELECT 1 AS found FROM pg_roles WHERE rolname = $1`, [dataPlaneRole(d.name)]),
      ).toEqual([]);
    } finally {
      await ds.destroy();
    }
  }, 30_000);
});
