import { DataSource } from 'typeorm';
import { materialiseLocalInstance, NoteEntity, runTenantMigrations, TENANT_MIGRATIONS } from '../src';
import {
  adminUrl,
  dropTestTenants,
  newTestTenant,
  ownerEndpoint,
  sqlStateOf,
  withClient,
  type TestTenant,
} from './tenant-db-fixtures';

const tenants: TestTenant[] = [];
const names = TENANT_MIGRATIONS.map((m) => new m().name);
const newest = names[names.length - 1];

afterAll(() => dropTestTenants(tenants));

async function materialisedTenant(): Promise<TestTenant> {
  const t = newTestTenant(tenants);
  await materialiseLocalInstance(adminUrl, t);
  return t;
}

async function ownerDataSource(t: TestTenant): Promise<DataSource> {
  const at = ownerEndpoint(t);
  return new DataSource({
    type: 'postgres',
    host: at.host,
    port: at.port,
    database: at.database,
    username: at.user,
    password: at.password,
    entities: [NoteEntity],
    migrations: TENANT_MIGRATIONS,
    migrationsTableName: 'silo_schema_migrations',
    logging: false,
  }).initialize();
}

describe('tenant migrations', () => {
  it('are named after their 13-digit timestamp', () => {
    expect(names).toEqual(['TenantNotes1795400000000']);
    for (const name of names) expect(name).toMatch(/\d{13}$/);
  });

  it('create app.notes as the owner and report the schema version', async () => {
    const t = await materialisedTenant();
    expect(await runTenantMigrations(ownerEndpoint(t))).toEqual({ applied: names, schemaVersion: newest });

    const facts = await withClient(ownerEndpoint(t), async (c) => ({
      columns: (
        await c.query(
          `SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns
            WHERE table_schema = 'app' AND table_name = 'notes' ORDER BY ordinal_position`,
        )
      ).rows,
      owner: (
        await c.query(`SELECT tableowner FROM pg_tables WHERE schemaname = 'app' AND tablename = 'notes'`)
      ).rows[0].tableowner,
      indexes: (await c.query(`SELECT indexname FROM pg_indexes WHERE schemaname = 'app' ORDER BY indexname`))
        .rows,
      recorded: (await c.query(`SELECT name FROM public.silo_schema_migrations`)).rows,
    }));
    expect(facts).toEqual({
      columns: [
        { column_name: 'id', data_type: 'uuid', is_nullable: 'NO', column_default: 'gen_random_uuid()' },
        { column_name: 'text', data_type: 'text', is_nullable: 'NO', column_default: null },
        {
          column_name: 'created_at',
          data_type: 'timestamp with time zone',
          is_nullable: 'NO',
          column_default: 'now()',
        },
      ],
      owner: t.ownerRole,
      indexes: [{ indexname: 'notes_created_at_idx' }, { indexname: 'notes_pkey' }],
      recorded: names.map((name) => ({ name })),
    });
  });

  it('apply nothing the second time and report the same version', async () => {
    const t = await materialisedTenant();
    await runTenantMigrations(ownerEndpoint(t));
    expect(await runTenantMigrations(ownerEndpoint(t))).toEqual({ applied: [], schemaVersion: newest });
  });

  it('apply each migration once when two callers migrate at the same moment', async () => {
    const t = await materialisedTenant();
    const runs = await Promise.all([
      runTenantMigrations(ownerEndpoint(t)),
      runTenantMigrations(ownerEndpoint(t)),
    ]);
    expect(runs.flatMap((r) => r.applied)).toEqual(names);
    expect(runs.map((r) => r.schemaVersion)).toEqual([newest, newest]);
  });

  it('keep the text between 1 and 10,000 characters', async () => {
    const t = await materialisedTenant();
    await runTenantMigrations(ownerEndpoint(t));
    await withClient(ownerEndpoint(t), async (c) => {
      const insert = (text: string) => c.query('INSERT INTO app.notes (text) VALUES ($1)', [text]);
      await insert('x'.repeat(10_000));
      expect(await sqlStateOf(insert(''))).toBe('23514');
      expect(await sqlStateOf(insert('x'.repeat(10_001)))).toBe('23514');
    });
  });

  it('leave no drift between NoteEntity and the migrated schema', async () => {
    const t = await materialisedTenant();
    await runTenantMigrations(ownerEndpoint(t));
    const ds = await ownerDataSource(t);
    try {
      const pending = await ds.driver.createSchemaBuilder().log();
      // TypeORM reads a uuid column defaulting to gen_random_uuid() as a generated column, so it
      // always proposes to re-set that default (a no-op); anything else would be real drift.
      expect(pending.upQueries.map((q) => q.query)).toEqual([
        'ALTER TABLE "app"."notes" ALTER COLUMN "id" DROP DEFAULT',
        'ALTER TABLE "app"."notes" ALTER COLUMN "id" SET DEFAULT gen_random_uuid()',
      ]);
    } finally {
      await ds.destroy();
    }
  });

  it('revert to a database without app.notes', async () => {
    const t = await materialisedTenant();
    await runTenantMigrations(ownerEndpoint(t));
    const ds = await ownerDataSource(t);
    try {
      for (let i = 0; i < TENANT_MIGRATIONS.length; i++) await ds.undoLastMigration();
      expect(await ds.query(`SELECT to_regclass('app.notes') AS notes`)).toEqual([{ notes: null }]);
    } finally {
      await ds.destroy();
    }
  });
});
