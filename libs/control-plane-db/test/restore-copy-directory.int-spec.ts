import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { uniqueToken } from '../../../test/support/test-config';
import { dataPlaneRole, quoteIdentifier } from '../../core/src';
import { CONTROL_PLANE_MIGRATIONS, controlPlaneDataSourceOptions } from '../src';
import { RestoreCopyDirectory1795435200000 } from '../src/migrations/1795435200000-restore-copy-directory';

async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

describe('the restore copy directory migration', () => {
  let database: { name: string; url: string };
  const others: string[] = [];

  beforeAll(async () => {
    database = await createOwnDatabase('rcdir');
  }, 30_000);

  afterAll(async () => {
    for (const name of [database?.name, ...others]) if (name) await dropDatabase(name);
  }, 30_000);

  it('comes right after the restores in the migrations', () => {
    const names = CONTROL_PLANE_MIGRATIONS.map((m) => m.name);
    expect(names.indexOf('RestoreCopyDirectory1795435200000')).toBe(
      names.indexOf('TenantRestores1795431600000') + 1,
    );
  });

  it('makes data_plane.tenant_restore_copies with exactly the columns the router reads, no password, no other secret', async () => {
    await withClient(database.url, async (client) => {
      const columns = await client.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns
          WHERE table_schema = 'data_plane' AND table_name = 'tenant_restore_copies' ORDER BY ordinal_position`,
      );
      expect(columns.rows.map((c) => c.column_name)).toEqual([
        'tenant_id',
        'run',
        'status',
        'region',
        'reader_secret_name',
        'expires_at',
      ]);
      const view = await client.query<{ owner: string; options: string[] | null; me: string }>(
        `SELECT pg_get_userbyid(c.relowner) AS owner, c.reloptions AS options, current_user AS me
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'data_plane' AND c.relname = 'tenant_restore_copies' AND c.relkind = 'v'`,
      );
      // Read with its owner's rights, as the directory is: the role holds nothing on the table.
      expect(view.rows).toEqual([{ owner: view.rows[0]?.me, options: null, me: view.rows[0]?.me }]);
    });
  });

  it('lets the data-plane role read the view alone: SELECT and nothing else, no privilege on the table', async () => {
    await withClient(database.url, async (client) => {
      const granted = await client.query(
        `SELECT has_table_privilege($1, 'data_plane.tenant_restore_copies', 'SELECT') AS select_view,
                has_table_privilege($1, 'data_plane.tenant_restore_copies', 'INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER') AS write_view,
                has_table_privilege($1, 'public.tenant_restore_copies', 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER') AS any_table,
                has_table_privilege('public', 'data_plane.tenant_restore_copies', 'SELECT') AS public_reads`,
        [dataPlaneRole(database.name)],
      );
      expect(granted.rows).toEqual([
        { select_view: true, write_view: false, any_table: false, public_reads: false },
      ]);
    });
  });

  it('shows a copy through the view, as the data-plane role', async () => {
    await withClient(database.url, async (client) => {
      const slug = `rc-${uniqueToken(3)}`;
      const tenant = await client.query<{ id: string }>(
        `INSERT INTO tenants (slug, name, tier, status, created_by, placement)
         VALUES ($1, 'Acme', 'enterprise', 'ACTIVE', 'ops-1', 'instance') RETURNING id`,
        [slug],
      );
      await client.query(
        `INSERT INTO tenant_restore_copies (tenant_id, run, status, source, region, instance_identifier,
                reader_secret_name, master_secret_name, endpoint_host, endpoint_port, database_name, expires_at)
         VALUES ($1, 3, 'AVAILABLE', '{"latest": true}', 'eu-central-1', $2, $3, $4, 'db.local', 5432, 'silo', '2030-01-01T00:00:00Z')`,
        [
          tenant.rows[0].id,
          `silo-restore-${slug}-3`,
          `silo/restore-${slug}-3/app`,
          `silo/restore-${slug}-3/master`,
        ],
      );
      await client.query('BEGIN');
      try {
        await client.query(`SET LOCAL ROLE ${quoteIdentifier(dataPlaneRole(database.name))}`);
        const rows = await client.query(
          'SELECT run, status, region, reader_secret_name, expires_at FROM data_plane.tenant_restore_copies WHERE tenant_id = $1',
          [tenant.rows[0].id],
        );
        expect(rows.rows).toEqual([
          {
            run: 3,
            status: 'AVAILABLE',
            region: 'eu-central-1',
            reader_secret_name: `silo/restore-${slug}-3/app`,
            expires_at: new Date('2030-01-01T00:00:00Z'),
          },
        ]);
        await expect(
          client.query('SELECT master_secret_name FROM public.tenant_restore_copies'),
        ).rejects.toThrow(/permission denied/);
      } finally {
        await client.query('ROLLBACK');
      }
    });
  });

  it('reverts to no view, leaving the directory and its grants as they were', async () => {
    const own = await createOwnDatabase('rcdown');
    others.push(own.name);
    const ds = await new DataSource(
      controlPlaneDataSourceOptions({
        url: own.url,
        poolMax: 1,
        connectTimeoutMs: 3000,
        applicationName: 'silo-test',
      }),
    ).initialize();
    try {
      const later =
        CONTROL_PLANE_MIGRATIONS.length -
        1 -
        CONTROL_PLANE_MIGRATIONS.indexOf(RestoreCopyDirectory1795435200000);
      for (let i = 0; i < later; i++) await ds.undoLastMigration();
      await ds.undoLastMigration();
      expect(
        await ds.query(
          `SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'data_plane' AND c.relname = 'tenant_restore_copies'`,
        ),
      ).toEqual([]);
      expect(
        await ds.query(`SELECT has_table_privilege($1, 'data_plane.tenant_directory', 'SELECT') AS reads`, [
          dataPlaneRole(own.name),
        ]),
      ).toEqual([{ reads: true }]);
      // And up again, as a re-deploy would.
      await ds.runMigrations({ transaction: 'each' });
      expect(
        await ds.query(
          `SELECT has_table_privilege($1, 'data_plane.tenant_restore_copies', 'SELECT') AS reads`,
          [dataPlaneRole(own.name)],
        ),
      ).toEqual([{ reads: true }]);
    } finally {
      await ds.destroy();
    }
  }, 30_000);
});
