import { randomUUID } from 'node:crypto';
import { cpSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DataSource } from 'typeorm';
import {
  loadTenantMigrations,
  materialiseLocalInstance,
  migrateTenantSchema,
  NoteEntity,
  readTenantLedger,
  TenantMigrationError,
  type PgEndpoint,
  type TenantMigrationSet,
} from '../src';
import {
  adminUrl,
  applyBuiltInSchema,
  dropTestTenants,
  newTestTenant,
  openSession,
  ownerEndpoint,
  TEST_MIGRATION_TIMEOUTS,
  withClient,
  type TestTenant,
} from './tenant-db-fixtures';

const FIXTURES = resolve(__dirname, '../../../test/fixtures/tenant-migrations');
const tenants: TestTenant[] = [];
const scratch: string[] = [];

// Dropping databases can outlast jest's 5 s on a loaded machine.
afterAll(async () => {
  await dropTestTenants(tenants);
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
}, 60_000);

async function materialised(): Promise<PgEndpoint> {
  const t = newTestTenant(tenants);
  await materialiseLocalInstance(adminUrl, t);
  return ownerEndpoint(t);
}

function migrate(owner: PgEndpoint, set: TenantMigrationSet, target?: string) {
  return migrateTenantSchema(owner, set, {
    ...TEST_MIGRATION_TIMEOUTS,
    target,
    appliedBy: 'test',
    tenant: 'acme',
  });
}

/** A copy of the fleet fixtures that a test may change. */
function fleetCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'silo-migrations-'));
  scratch.push(dir);
  cpSync(join(FIXTURES, 'fleet'), dir, { recursive: true, dereference: true });
  // The fixtures link the built-in 0001: a copy of the link would let a test edit the real file.
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (!lstatSync(path).isSymbolicLink()) continue;
    const bytes = readFileSync(path);
    rmSync(path);
    writeFileSync(path, bytes);
  }
  return dir;
}

async function failure(promise: Promise<unknown>): Promise<TenantMigrationError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TenantMigrationError) return error;
    throw error;
  }
  throw new Error('expected the migration to be refused');
}

const fleet = () => loadTenantMigrations({ dir: join(FIXTURES, 'fleet') });

describe('tenant schema migrations', () => {
  it('apply the built-in schema as the owner and keep a ledger row with checksum and duration', async () => {
    const owner = await materialised();
    const set = loadTenantMigrations();
    const tenantId = randomUUID();
    const result = await applyBuiltInSchema(owner, tenantId);
    expect(result).toEqual({
      from: null,
      applied: [
        { version: '0001', name: 'create_notes', durationMs: expect.any(Number) },
        { version: '0002', name: 'notes_tenant_id', durationMs: expect.any(Number) },
      ],
      schemaVersion: '0002',
    });
    const ledger = await readTenantLedger(owner);
    expect(ledger).toEqual([
      {
        version: '0001',
        name: 'create_notes',
        checksum: set.migrations[0].checksum,
        appliedAt: expect.any(Date),
        durationMs: result.applied[0].durationMs,
        appliedBy: 'test',
      },
      expect.objectContaining({ version: '0002', checksum: set.migrations[1].checksum }),
    ]);
    expect(set.migrations[0].checksum).toMatch(/^[0-9a-f]{64}$/);
    const owners = await withClient(
      owner,
      async (c) =>
        (await c.query(`SELECT tableowner FROM pg_tables WHERE schemaname = 'app' AND tablename = 'notes'`))
          .rows,
    );
    expect(owners).toEqual([{ tableowner: owner.user }]);

    // The example app's entity matches what the SQL made.
    const ds = await new DataSource({
      type: 'postgres',
      host: owner.host,
      port: owner.port,
      database: owner.database,
      username: owner.user,
      password: owner.password,
      entities: [NoteEntity],
      logging: false,
      // As a tenant's login has them by role default: the schema on the path, the tenant set.
      extra: { options: `-c search_path=app -c app.tenant_id=${tenantId}` },
    }).initialize();
    try {
      const saved = await ds.getRepository(NoteEntity).save({ text: 'hello' });
      expect(saved.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(await ds.getRepository(NoteEntity).findOneByOrFail({ id: saved.id })).toMatchObject({
        tenantId,
        text: 'hello',
      });
      expect(await ds.getRepository(NoteEntity).count()).toBe(1);
    } finally {
      await ds.destroy();
    }
  });

  it('apply nothing a second time, and concurrent runs apply each migration once', async () => {
    const owner = await materialised();
    const runs = await Promise.all([
      migrate(owner, fleet()),
      migrate(owner, fleet()),
      migrate(owner, fleet()),
    ]);
    expect(runs.map((r) => r.schemaVersion)).toEqual(['0003', '0003', '0003']);
    expect(runs.flatMap((r) => r.applied.map((a) => a.version)).sort()).toEqual(['0001', '0002', '0003']);
    expect(await migrate(owner, fleet())).toEqual({ from: '0003', applied: [], schemaVersion: '0003' });
    expect((await readTenantLedger(owner)).map((e) => e.version)).toEqual(['0001', '0002', '0003']);
  });

  it('stop at the target version, and continue from the ledger to the next one', async () => {
    const owner = await materialised();
    expect((await migrate(owner, fleet(), '0001')).schemaVersion).toBe('0001');
    const next = await migrate(owner, fleet(), '2');
    expect(next).toMatchObject({ from: '0001', applied: [{ version: '0002' }], schemaVersion: '0002' });
  });

  it('apply a -- silo:no-transaction migration with CREATE INDEX CONCURRENTLY', async () => {
    const owner = await materialised();
    await migrate(owner, fleet());
    const index = await withClient(
      owner,
      async (c) =>
        (
          await c.query(
            `SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'notes_due_date_idx'`,
          )
        ).rows,
    );
    expect(index).toEqual([{ indisvalid: true }]);
    expect(fleet().migrations.map((m) => m.transactional)).toEqual([true, true, false]);
  });

  it('refuse a tenant whose ledger checksum differs from the file, naming file, tenant and both checksums; nothing is applied', async () => {
    const dir = fleetCopy();
    const owner = await materialised();
    await migrate(owner, loadTenantMigrations({ dir }), '0001');
    const before = loadTenantMigrations({ dir }).migrations[0].checksum;
    writeFileSync(join(dir, '0001_create_notes.sql'), '-- edited after it was applied\nSELECT 1;\n', {
      flag: 'a',
    });
    const changed = loadTenantMigrations({ dir });

    const error = await failure(migrate(owner, changed));
    expect(error.code).toBe('CHECKSUM_MISMATCH');
    expect(error.message).toContain('0001_create_notes.sql');
    expect(error.message).toContain('acme');
    expect(error.message).toContain(before);
    expect(error.message).toContain(changed.migrations[0].checksum);
    expect(error.details).toMatchObject({ reached: '0001', version: '0001' });
    expect((await readTenantLedger(owner)).map((e) => e.version)).toEqual(['0001']);
  });

  it('roll back a failing migration whole and name its SQLSTATE', async () => {
    const owner = await materialised();
    await migrate(owner, fleet(), '0001');
    // 0002 creates app.tags after altering app.notes: with app.tags already there it fails half-way.
    await withClient(owner, (c) => c.query('CREATE TABLE app.tags (x int)'));
    const error = await failure(migrate(owner, fleet()));
    expect(error).toMatchObject({
      code: 'MIGRATION_FAILED',
      details: { reached: '0001', version: '0002', migration: '0002_add_due_date.sql', sqlState: '42P07' },
    });
    const columns = await withClient(owner, async (c) =>
      (
        await c.query(
          `SELECT column_name FROM information_schema.columns WHERE table_schema = 'app' AND table_name = 'notes'`,
        )
      ).rows.map((r: { column_name: string }) => r.column_name),
    );
    expect(columns).not.toContain('due_date');
    expect((await readTenantLedger(owner)).map((e) => e.version)).toEqual(['0001']);
  });

  it('fail with 55P03 within the lock timeout when a long transaction holds the table', async () => {
    const owner = await materialised();
    await migrate(owner, fleet(), '0001');
    const holder = await openSession(owner);
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE app.notes IN ACCESS SHARE MODE');
      const error = await failure(
        migrateTenantSchema(owner, fleet(), {
          lockTimeoutMs: 200,
          statementTimeoutMs: 30_000,
          appliedBy: 'test',
          tenant: 'acme',
        }),
      );
      expect(error.details).toMatchObject({ sqlState: '55P03', version: '0002', reached: '0001' });
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    expect((await migrate(owner, fleet())).schemaVersion).toBe('0003');
  });

  it('report a migration cut off by a lost session as INTERRUPTED, retryable, at the version reached', async () => {
    const slow = loadTenantMigrations({ dir: join(FIXTURES, 'slow') });
    const owner = await materialised();
    await migrate(owner, slow, '0001');
    // Its outcome is awaited from the start, so the rejection is never unhandled while we cut it.
    const outcome = failure(migrate(owner, slow));
    // 0002 sleeps 0.4 s: once it is inside that, end its session from outside, as a failover would.
    await withClient({ ...owner }, async (c) => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const { rowCount } = await c.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = $1 AND application_name = 'silo-tenant-migrations' AND query LIKE '%pg_sleep%'`,
          [owner.database],
        );
        if (rowCount || Date.now() > deadline) return;
        await new Promise((r) => setTimeout(r, 10));
      }
    });
    const error = await outcome;
    expect(error).toMatchObject({
      code: 'INTERRUPTED',
      retryable: true,
      details: { reached: '0001', version: '0002', sqlState: '57P01' },
    });
    expect(error.message).not.toContain(owner.host);
    expect((await readTenantLedger(owner)).map((e) => e.version)).toEqual(['0001']);
    expect((await migrate(owner, slow)).schemaVersion).toBe('0003');
  });

  it('refuse a pending version below one already applied, and an applied version without a file', async () => {
    const dir = fleetCopy();
    const owner = await materialised();
    rmSync(join(dir, '0002_add_due_date.sql'));
    const withoutTwo = loadTenantMigrations({ dir });
    // 0003 alone needs the due_date column: give it one so that it applies.
    await migrate(owner, withoutTwo, '0001');
    await withClient(owner, (c) => c.query('ALTER TABLE app.notes ADD COLUMN due_date date'));
    await migrate(owner, withoutTwo);
    cpSync(join(FIXTURES, 'fleet', '0002_add_due_date.sql'), join(dir, '0002_add_due_date.sql'));
    expect(await failure(migrate(owner, loadTenantMigrations({ dir })))).toMatchObject({
      code: 'OUT_OF_ORDER',
      details: { version: '0002' },
    });

    rmSync(join(dir, '0002_add_due_date.sql'));
    rmSync(join(dir, '0003_index_due_date.sql'));
    const error = await failure(migrate(owner, loadTenantMigrations({ dir })));
    expect(error.code).toBe('MISSING_MIGRATION');
    expect(error.message).toContain('0003');
  });

  it('run compiled TypeORM migration classes, a non-transactional one included', async () => {
    const owner = await materialised();
    const set = loadTenantMigrations({ module: join(FIXTURES, 'typeorm', 'migrations.js') });
    expect(set.kind).toBe('typeorm');
    expect(await migrate(owner, set)).toMatchObject({
      applied: [{ version: '1795400000000' }, { version: '1795500000000' }],
      schemaVersion: '1795500000000',
    });
    expect((await readTenantLedger(owner)).map((e) => e.name)).toEqual([
      'CreateNotes1795400000000',
      'IndexNotesText1795500000000',
    ]);
    expect((await migrate(owner, set)).applied).toEqual([]);
  });

  it('adopt a database migrated by the TypeORM ledger of earlier versions as at the built-in 0001', async () => {
    const owner = await materialised();
    await withClient(owner, async (c) => {
      await c.query(
        'CREATE TABLE public.silo_schema_migrations (id serial PRIMARY KEY, "timestamp" bigint NOT NULL, name varchar NOT NULL)',
      );
      await c.query(
        `INSERT INTO public.silo_schema_migrations ("timestamp", name) VALUES (1795400000000, 'TenantNotes1795400000000')`,
      );
      await c.query('CREATE SCHEMA app');
      // The notes table as the TypeORM migration of that time made it: no tenant_id.
      await c.query(
        `CREATE TABLE app.notes (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), text text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`,
      );
      await c.query(`INSERT INTO app.notes (text) VALUES ('written before tenant_id')`);
    });
    const tenantId = randomUUID();
    expect(await applyBuiltInSchema(owner, tenantId)).toEqual({
      from: '0001',
      applied: [{ version: '0002', name: 'notes_tenant_id', durationMs: expect.any(Number) }],
      schemaVersion: '0002',
    });
    expect((await readTenantLedger(owner))[0]).toMatchObject({
      version: '0001',
      appliedBy: 'adopted:typeorm',
    });
    // 0002 filled the old row with the tenant it was migrated for, and it is now under RLS.
    const rows = await withClient(owner, async (c) => {
      await c.query(`SELECT set_config('app.tenant_id', $1, false)`, [tenantId]);
      return (await c.query('SELECT tenant_id, text FROM app.notes')).rows;
    });
    expect(rows).toEqual([{ tenant_id: tenantId, text: 'written before tenant_id' }]);
    expect(
      await withClient(owner, async (c) => (await c.query('SELECT count(*)::int AS n FROM app.notes')).rows),
    ).toEqual([{ n: 0 }]);
  });
});

describe("schema tenants' ledgers' schema", () => {
  it('is made once when another session made it while this one waited its turn (no 23505 on pg_namespace)', async () => {
    const owner = await materialised();
    const into = {
      placement: 'schema' as const,
      schema: `acme_${randomUUID().slice(0, 8)}`,
      tenantId: randomUUID(),
    };
    // Another session holds the ledgers' lock and makes the schema while the migration waits on it.
    await withClient(owner, async (other) => {
      await other.query(`SELECT pg_advisory_lock(hashtext('silo:silo_ledgers'))`);
      const migrating = migrateTenantSchema(owner, loadTenantMigrations(), {
        ...TEST_MIGRATION_TIMEOUTS,
        appliedBy: 'test',
        tenant: 'acme',
        into,
      });
      const failedEarly = migrating.then(
        () => null,
        (e: unknown) => e,
      );
      // The migration has looked for its ledger (and found no schema) and waits for the lock.
      for (let waited = 0; ; waited += 20) {
        const { rows } = await other.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        );
        if (rows[0].n > 0) break;
        if (waited > 10_000)
          throw new Error(`the migration never waited for the ledgers' lock: ${String(await failedEarly)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      await other.query(`CREATE SCHEMA silo_ledgers`);
      await other.query(`SELECT pg_advisory_unlock(hashtext('silo:silo_ledgers'))`);
      expect(await failedEarly).toBeNull();
      expect((await migrating).schemaVersion).toBe('0002');
    });
  });
});
