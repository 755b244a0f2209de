import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { Client } from 'pg';
import { databaseUrl } from '../../../test/support/test-services';
import {
  appLoginRoles,
  bootstrapAppRole,
  deleteTenantRows,
  dropTenantSchema,
  dumpTenantSchema,
  exportTenantRows,
  importTenantRows,
  importTenantSchema,
  ledgerRebuildSql,
  loadTenantMigrations,
  materialiseLocalInstance,
  migrateTenantSchema,
  TENANT_ROWS_FORMAT,
  TenantDumpError,
  tenantImported,
  TenantImportError,
  type MigrationTarget,
  type PgEndpoint,
  type TenantRowsRecord,
} from '../src';
import {
  adminUrl,
  dropTestTenants,
  endpoint,
  newTestTenant,
  ownerEndpoint,
  roleExists,
  TEST_MIGRATION_TIMEOUTS,
  withAdmin,
  withClient,
  type TestTenant,
} from './tenant-db-fixtures';

const run = promisify(execFile);
const hosts: TestTenant[] = [];
const extraRoles: string[] = [];
const scratch: string[] = [];

// Dropping every database this file made takes longer than jest's 5 s on a loaded machine.
afterAll(async () => {
  await dropTestTenants(hosts, extraRoles);
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
}, 60_000);

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'silo-offboarding-'));
  scratch.push(dir);
  return dir;
}

/**
 * The tenant schema of these tests: notes, and tags that reference them (so deleting must go
 * children first), with values COPY's CSV must carry exactly (quotes, commas, new lines, NULL
 * beside '', bytes, JSON).
 */
function offboardingMigrations() {
  const dir = tempDir();
  writeFileSync(
    join(dir, '0001_notes.sql'),
    `CREATE TABLE notes (
       tenant_id uuid NOT NULL,
       id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
       text text NOT NULL,
       created_at timestamptz NOT NULL DEFAULT now()
     );
     CREATE INDEX notes_tenant_idx ON notes (tenant_id);`,
  );
  writeFileSync(
    join(dir, '0002_note_tags.sql'),
    `CREATE TABLE note_tags (
       tenant_id uuid NOT NULL,
       id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
       note_id uuid NOT NULL REFERENCES notes (id),
       tag text,
       meta jsonb,
       blob bytea,
       tag_length int GENERATED ALWAYS AS (char_length(tag)) STORED
     );
     CREATE INDEX note_tags_tenant_idx ON note_tags (tenant_id);`,
  );
  return loadTenantMigrations({ dir });
}

async function migrate(owner: PgEndpoint, into: MigrationTarget): Promise<void> {
  await migrateTenantSchema(owner, offboardingMigrations(), {
    ...TEST_MIGRATION_TIMEOUTS,
    appliedBy: 'test',
    tenant: 'offboarding',
    into,
  });
}

async function sharedHost(into?: MigrationTarget): Promise<{ host: TestTenant; owner: PgEndpoint }> {
  const host = newTestTenant(hosts);
  await materialiseLocalInstance(adminUrl, host);
  const owner = ownerEndpoint(host);
  if (into) await migrate(owner, into);
  return { host, owner };
}

/** As the router does for pooled tenants: one transaction with app.tenant_id set for it only. */
async function asTenant<T>(client: Client, tenantId: string, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    await client.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenantId]);
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

/** `notes` notes for the tenant, each with two tags (the tricky values on the first). */
async function seed(client: Client, schema: string, tenantId: string, notes: number): Promise<void> {
  await asTenant(client, tenantId, async () => {
    for (let n = 0; n < notes; n++) {
      const note = await client.query<{ id: string }>(
        `INSERT INTO "${schema}".notes (text) VALUES ($1) RETURNING id`,
        [n === 0 ? `a "quoted", comma\nnew line \\. and ü` : `note ${n}`],
      );
      await client.query(
        `INSERT INTO "${schema}".note_tags (note_id, tag, meta, blob) VALUES ($1, $2, $3, $4), ($1, $5, NULL, NULL)`,
        [note.rows[0].id, n === 0 ? '' : `tag ${n}`, { n, s: 'x"y' }, Buffer.from([0, 1, 255]), null],
      );
    }
  });
}

/** Every row of the tenant's tables, as text, in a stable order. */
async function tenantRows(client: Client, schema: string, tenantId?: string): Promise<string[]> {
  const read = async () =>
    (
      await client.query<{ row: string }>(
        `SELECT t::text AS row FROM (SELECT tenant_id, id::text, text, created_at FROM "${schema}".notes) t
         UNION ALL SELECT t::text FROM (SELECT tenant_id, note_id, tag, meta, blob, tag_length FROM "${schema}".note_tags) t
         ORDER BY 1`,
      )
    ).rows.map((r) => r.row);
  return tenantId ? asTenant(client, tenantId, read) : read();
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function records(ndjson: Buffer): TenantRowsRecord[] {
  const text = ndjson.toString('utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as TenantRowsRecord);
}

/** Runs psql as the test server's admin against `database`, with `input` on stdin. */
async function psql(database: string, command: string, input: string): Promise<void> {
  const child = spawn(
    'psql',
    ['--no-psqlrc', '--set=ON_ERROR_STOP=1', '--quiet', databaseUrl(adminUrl, database), '-c', command],
    {
      stdio: ['pipe', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(input);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`psql failed (${code}): ${stderr}`);
}

const POOL: MigrationTarget = { placement: 'pool', schema: 'app' };

describe('offboarding a pooled tenant', () => {
  it("exports exactly the tenant's rows of every tenant table, in a form COPY restores", async () => {
    const { owner } = await sharedHost(POOL);
    const [a, b] = [randomUUID(), randomUUID()];
    await withClient(owner, async (c) => {
      await seed(c, 'app', a, 3);
      await seed(c, 'app', b, 2);
    });

    const exported = records(
      await readAll(exportTenantRows(owner, { tenantId: a, fetchRows: 2, exportedAt: new Date(0) })),
    );
    expect(exported[0]).toEqual({
      format: TENANT_ROWS_FORMAT,
      schema: 'app',
      tenantId: a,
      exportedAt: '1970-01-01T00:00:00.000Z',
    });
    expect(exported.at(-1)).toEqual({ end: true, rows: { notes: 3, note_tags: 6 } });
    const data = exported.filter((r): r is Extract<TenantRowsRecord, { csv: string }> => 'csv' in r);
    // Parents first, in batches of at most fetchRows rows; generated columns left out.
    expect(data.map((r) => r.table)).toEqual(['notes', 'notes', 'note_tags', 'note_tags', 'note_tags']);
    expect(data[0].columns).toEqual(['tenant_id', 'id', 'text', 'created_at']);
    expect(data[2].columns).toEqual(['tenant_id', 'id', 'note_id', 'tag', 'meta', 'blob']);
    const csv = (table: string) =>
      data
        .filter((r) => r.table === table)
        .map((r) => r.csv)
        .join('');
    expect(csv('notes')).toContain(`"${a}"`);
    expect(`${csv('notes')}${csv('note_tags')}`).not.toContain(b);

    // Restored by hand as the file says, into an empty pool database: the same rows, no others.
    const { host: target, owner: targetOwner } = await sharedHost(POOL);
    for (const table of ['notes', 'note_tags']) {
      const { columns } = data.find((r) => r.table === table)!;
      await psql(
        target.database,
        `COPY app.${table} (${columns.map((c) => `"${c}"`).join(', ')}) FROM STDIN WITH (FORMAT csv)`,
        csv(table),
      );
    }
    const source = await withClient(owner, (c) => tenantRows(c, 'app', a));
    expect(source).toHaveLength(9);
    expect(await withClient(targetOwner, (c) => tenantRows(c, 'app', a))).toEqual(source);
    expect(await withAdmin((c) => tenantRows(c, 'app'), target.database)).toEqual(source);
  });

  it('exports a tenant without rows as every table, empty', async () => {
    const { owner } = await sharedHost(POOL);
    await withClient(owner, (c) => seed(c, 'app', randomUUID(), 1));
    const exported = records(await readAll(exportTenantRows(owner, { tenantId: randomUUID() })));
    expect(exported.slice(1)).toEqual([
      { table: 'notes', columns: ['tenant_id', 'id', 'text', 'created_at'], csv: '' },
      { table: 'note_tags', columns: ['tenant_id', 'id', 'note_id', 'tag', 'meta', 'blob'], csv: '' },
      { end: true, rows: { notes: 0, note_tags: 0 } },
    ]);
  });

  it("deletes only the tenant's rows, children first, in batches, and a re-run deletes what is left", async () => {
    const { host, owner } = await sharedHost(POOL);
    const [a, b] = [randomUUID(), randomUUID()];
    await withClient(owner, async (c) => {
      await seed(c, 'app', a, 5);
      await seed(c, 'app', b, 2);
    });
    const othersBefore = await withClient(owner, (c) => tenantRows(c, 'app', b));
    expect(othersBefore).toHaveLength(6);

    const deleted = await deleteTenantRows(owner, { tenantId: a, batchSize: 3 });
    expect(deleted.rows).toEqual({ notes: 5, note_tags: 10 });
    // 10 tags in batches of 3, then 5 notes.
    expect(deleted.batches).toBe(6);
    await withClient(owner, async (c) => {
      expect(await tenantRows(c, 'app', a)).toEqual([]);
      expect(await tenantRows(c, 'app', b)).toEqual(othersBefore);
    });
    // Every row, whoever's, as the superuser sees them: only the other tenant's are left.
    expect(
      await withAdmin(
        async (c) =>
          (
            await c.query(
              'SELECT DISTINCT tenant_id FROM app.notes UNION SELECT tenant_id FROM app.note_tags',
            )
          ).rows,
        host.database,
      ),
    ).toEqual([{ tenant_id: b }]);

    // A crash after some batches: the re-run deletes the rest.
    await withClient(owner, (c) => seed(c, 'app', a, 2));
    expect(await deleteTenantRows(owner, { tenantId: a, batchSize: 100 })).toEqual({
      rows: { notes: 2, note_tags: 4 },
      batches: 2,
    });
    expect(await deleteTenantRows(owner, { tenantId: a })).toEqual({
      rows: { notes: 0, note_tags: 0 },
      batches: 0,
    });
  });

  it('does not wait behind a lock held by another session: the batch fails and the run can be repeated', async () => {
    const { owner } = await sharedHost(POOL);
    const a = randomUUID();
    await withClient(owner, (c) => seed(c, 'app', a, 1));
    await withClient(owner, async (holder) => {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE app.note_tags IN ACCESS EXCLUSIVE MODE');
      await expect(deleteTenantRows(owner, { tenantId: a, lockTimeoutMs: 200 })).rejects.toMatchObject({
        code: '55P03',
      });
      await holder.query('ROLLBACK');
    });
    expect((await deleteTenantRows(owner, { tenantId: a })).rows).toEqual({ notes: 1, note_tags: 2 });
  });

  it('refuses what is not a tenant id', async () => {
    const { owner } = await sharedHost(POOL);
    await expect(deleteTenantRows(owner, { tenantId: `x' OR true --` })).rejects.toThrow(/not a tenant id/);
    expect(() => exportTenantRows(owner, { tenantId: 'acme' })).toThrow(/not a tenant id/);
  });
});

describe('offboarding a schema tenant', () => {
  /** A host with two schema tenants, each with its schema, rows and app role with logins. */
  async function schemaHost() {
    const { host, owner } = await sharedHost();
    const tenants = ['a', 'b'].map((n) => ({
      schema: `${host.appRole}_${n}`,
      role: `${host.appRole}_${n}_app`,
      login: appLoginRoles(`${host.appRole}_${n}_app`)[0],
      tenantId: randomUUID(),
    }));
    for (const t of tenants) {
      extraRoles.push(...appLoginRoles(t.role), t.role);
      await migrate(owner, { placement: 'schema', schema: t.schema, tenantId: t.tenantId });
      await bootstrapAppRole(owner, {
        role: t.role,
        login: t.login,
        password: host.appPassword,
        schema: t.schema,
        tenantId: t.tenantId,
      });
    }
    await withClient(owner, async (c) => {
      await seed(c, tenants[0].schema, tenants[0].tenantId, 3);
      await seed(c, tenants[1].schema, tenants[1].tenantId, 1);
    });
    return { host, owner, a: tenants[0], b: tenants[1] };
  }

  it("dumps the tenant's schema with its rows, and the dump restores into an empty database", async () => {
    const { owner, a, b } = await schemaHost();
    const dir = tempDir();
    const file = join(dir, 'tenant.dump');
    writeFileSync(file, await readAll(dumpTenantSchema(owner, { schema: a.schema, tenantId: a.tenantId })));

    const listing = (await run('pg_restore', ['--list', file])).stdout;
    expect(listing).toContain(`TABLE DATA ${a.schema} notes`);
    expect(listing).not.toContain(b.schema);
    expect(listing).not.toMatch(/ACL|OWNER TO/);

    const target = newTestTenant(hosts);
    await withAdmin((c) => c.query(`CREATE DATABASE "${target.database}"`));
    await run('pg_restore', [
      '--exit-on-error',
      '--no-owner',
      `--dbname=${databaseUrl(adminUrl, target.database)}`,
      file,
    ]);
    const source = await withClient(owner, (c) => tenantRows(c, a.schema, a.tenantId));
    expect(source).toHaveLength(9);
    expect(await withAdmin((c) => tenantRows(c, a.schema), target.database)).toEqual(source);
  });

  it('writes SQL for psql with the plain format', async () => {
    const { owner, a } = await schemaHost();
    const sql = (
      await readAll(dumpTenantSchema(owner, { schema: a.schema, tenantId: a.tenantId, format: 'plain' }))
    ).toString();
    expect(sql).toContain(`CREATE TABLE ${a.schema}.notes`);
    expect(sql).toMatch(
      new RegExp(
        `COPY ${a.schema}\\.notes \\(tenant_id, id, text, created_at\\) FROM stdin;\\n(.+\\n){3}\\\\\\.`,
      ),
    );
    expect(sql).not.toMatch(/OWNER TO|GRANT /);
  });

  it('fails the stream with what pg_dump said when the dump fails', async () => {
    const { host, owner, a } = await schemaHost();
    const error = await withClient(endpoint(host.database, a.login, host.appPassword), async (session) => {
      await session.query('BEGIN');
      await session.query('LOCK TABLE notes IN ACCESS EXCLUSIVE MODE');
      return readAll(
        dumpTenantSchema(owner, { schema: a.schema, tenantId: a.tenantId, lockWaitTimeoutMs: 200 }),
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
    });
    expect(error).toBeInstanceOf(TenantDumpError);
    expect((error as TenantDumpError).exitCode).toBe(1);
    expect((error as TenantDumpError).message).toMatch(
      new RegExp(
        `pg_dump of schema ${a.schema} failed \\(exit 1\\): pg_dump: error: .*LOCK TABLE ${a.schema}\\.notes`,
        's',
      ),
    );
    expect((error as TenantDumpError).stderr).toMatch(/statement timeout/);
  });

  it('says so when pg_dump is not installed', async () => {
    const { owner, a } = await schemaHost();
    await expect(
      readAll(
        dumpTenantSchema(owner, {
          schema: a.schema,
          tenantId: a.tenantId,
          pgDump: join(tempDir(), 'pg_dump'),
        }),
      ),
    ).rejects.toThrow(/pg_dump was not found .*install the PostgreSQL client/);
  });

  it("drops the tenant's schema, ledger and roles, leaving the other tenant's working", async () => {
    const { host, owner, a, b } = await schemaHost();
    const bRows = await withClient(owner, (c) => tenantRows(c, b.schema, b.tenantId));

    // A role serving another schema is refused, and nothing is dropped.
    await expect(dropTenantSchema(owner, { schema: a.schema, role: b.role })).rejects.toThrow(
      /serves schema .*_b, not .*_a: nothing was dropped/,
    );

    expect(await dropTenantSchema(owner, { schema: a.schema, role: a.role })).toEqual({
      schemaDropped: true,
      ledgerDropped: true,
      rolesDropped: [a.login, a.role],
    });
    for (const role of [...appLoginRoles(a.role), a.role]) expect(await roleExists(role)).toBe(false);
    await withClient(owner, async (c) => {
      const left = await c.query<{ nspname: string }>(
        `SELECT nspname FROM pg_namespace WHERE nspname LIKE $1 ORDER BY 1`,
        [`${host.appRole}_%`],
      );
      expect(left.rows.map((r) => r.nspname)).toEqual([b.schema]);
      const ledgers = await c.query<{ relname: string }>(
        `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'silo_ledgers' AND c.relkind = 'r'`,
      );
      expect(ledgers.rows.map((r) => r.relname)).toEqual([b.schema]);
    });
    expect(await roleExists(b.role)).toBe(true);
    await withClient(endpoint(host.database, b.login, host.appPassword), async (c) => {
      expect(await tenantRows(c, b.schema)).toEqual(bRows);
    });

    // Again: nothing left to drop.
    expect(await dropTenantSchema(owner, { schema: a.schema, role: a.role })).toEqual({
      schemaDropped: false,
      ledgerDropped: false,
      rolesDropped: [],
    });
  });

  it('does not wait behind a session that holds a lock in the schema', async () => {
    const { host, owner, a } = await schemaHost();
    await withClient(endpoint(host.database, a.login, host.appPassword), async (session) => {
      await session.query('BEGIN');
      await session.query('SELECT count(*) FROM notes');
      await expect(
        dropTenantSchema(owner, { schema: a.schema, role: a.role, lockTimeoutMs: 200 }),
      ).rejects.toMatchObject({
        code: '55P03',
      });
      await session.query('ROLLBACK');
    });
    expect(await roleExists(a.role)).toBe(true);
    expect((await dropTenantSchema(owner, { schema: a.schema, role: a.role })).schemaDropped).toBe(true);
  });

  it('refuses schemas that are not a schema tenant’s', async () => {
    const { owner } = await sharedHost();
    for (const schema of ['app', 'public', 'silo_ledgers', 'pg_catalog'])
      await expect(dropTenantSchema(owner, { schema, role: 'x_app' })).rejects.toThrow(
        /cannot hold tenant tables|needs a schema of its own/,
      );
    expect(() => dumpTenantSchema(owner, { schema: 'x"; DROP', tenantId: randomUUID() })).toThrow(
      /not a valid SQL identifier/,
    );
  });
});

describe('importing an export back (an undelete)', () => {
  it("puts a pooled tenant's rows back as its owner, under row-level security, once", async () => {
    const { owner } = await sharedHost(POOL);
    const [a, b] = [randomUUID(), randomUUID()];
    await withClient(owner, async (c) => {
      await seed(c, 'app', a, 3);
      await seed(c, 'app', b, 2);
    });
    const before = await withClient(owner, (c) => tenantRows(c, 'app', a));
    const neighbour = await withClient(owner, (c) => tenantRows(c, 'app', b));
    const exported = await readAll(exportTenantRows(owner, { tenantId: a, fetchRows: 2 }));
    await deleteTenantRows(owner, { tenantId: a });
    expect(await withClient(owner, (c) => tenantRows(c, 'app', a))).toEqual([]);

    const result = await importTenantRows(owner, Readable.from([exported]), { tenantId: a, importId: 'u-1' });
    expect(result).toEqual({ already: false, rows: { notes: 3, note_tags: 6 } });
    expect(await withClient(owner, (c) => tenantRows(c, 'app', a))).toEqual(before);
    expect(await withClient(owner, (c) => tenantRows(c, 'app', b))).toEqual(neighbour);
    expect(await tenantImported(owner, 'u-1')).toBe(true);

    // Run again (a crash after the commit): nothing changes.
    expect(
      await importTenantRows(owner, Readable.from([exported]), { tenantId: a, importId: 'u-1' }),
    ).toEqual({
      already: true,
      rows: {},
    });
    expect(await withClient(owner, (c) => tenantRows(c, 'app', a))).toEqual(before);
  });

  it('refuses an export cut short, of another tenant, or naming a column the pool no longer has, changing nothing', async () => {
    const { owner } = await sharedHost(POOL);
    const [a, b] = [randomUUID(), randomUUID()];
    await withClient(owner, (c) => seed(c, 'app', a, 2));
    const exported = await readAll(exportTenantRows(owner, { tenantId: a }));
    const before = await withClient(owner, (c) => tenantRows(c, 'app', a));
    const lines = exported.toString().trimEnd().split('\n');
    const importOf = (text: string, tenantId = a) =>
      importTenantRows(owner, Readable.from([Buffer.from(text)]), { tenantId, importId: randomUUID() });

    await expect(importOf(`${lines.slice(0, -1).join('\n')}\n`)).rejects.toThrow(
      /no end record: it was cut short/,
    );
    await expect(importOf(exported.toString(), b)).rejects.toThrow(/holds tenant .*'s rows, not /);
    const renamed = lines.map((l) => l.replace('"tag"', '"label"')).join('\n');
    await expect(importOf(renamed)).rejects.toThrow(
      /column label of note_tags, which app.note_tags no longer has/,
    );
    await expect(importOf('{"not":"an export"}\n')).rejects.toBeInstanceOf(TenantImportError);
    // Each failure rolled back its delete of the tenant's rows too.
    expect(await withClient(owner, (c) => tenantRows(c, 'app', a))).toEqual(before);
  });

  it("puts a schema tenant's dump back with its ledger rebuilt, in one transaction, once", async () => {
    const { owner, a, b } = await schemaHostForImport();
    const before = await withClient(owner, (c) => tenantRows(c, a.schema, a.tenantId));
    const dump = await readAll(dumpTenantSchema(owner, { schema: a.schema, tenantId: a.tenantId }));
    await dropTenantSchema(owner, { schema: a.schema, role: a.role });
    const into: MigrationTarget = { placement: 'schema', schema: a.schema, tenantId: a.tenantId };
    const options = {
      schema: a.schema,
      tenantId: a.tenantId,
      importId: 'u-schema',
      after: ledgerRebuildSql(offboardingMigrations(), into, '2', 'undelete:test'),
    };

    // A failing statement after the dump (here, a ledger that cannot be made) leaves nothing behind.
    await expect(
      importTenantSchema(owner, Readable.from([dump]), { ...options, after: 'SELECT 1/0;' }),
    ).rejects.toThrow(/division by zero/);
    expect(
      await withClient(owner, (c) => c.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [a.schema])),
    ).toMatchObject({ rowCount: 0 });

    expect(await importTenantSchema(owner, Readable.from([dump]), options)).toEqual({
      already: false,
      rows: {},
    });
    expect(await withClient(owner, (c) => tenantRows(c, a.schema, a.tenantId))).toEqual(before);
    expect(await importTenantSchema(owner, Readable.from([dump]), options)).toEqual({
      already: true,
      rows: {},
    });
    // The ledger says 0001 and 0002 are applied: migrating applies nothing.
    const migrated = await migrateTenantSchema(owner, offboardingMigrations(), {
      ...TEST_MIGRATION_TIMEOUTS,
      appliedBy: 'test',
      tenant: 'offboarding',
      into,
    });
    expect(migrated).toMatchObject({ from: '0002', applied: [], schemaVersion: '0002' });
    // The tenant's role made again reads its rows through its own login; the neighbour is as it was.
    extraRoles.push(...appLoginRoles(a.role), a.role);
    await bootstrapAppRole(owner, {
      role: a.role,
      login: a.login,
      password: a.password,
      schema: a.schema,
      tenantId: a.tenantId,
    });
    expect(
      await withClient(endpoint(owner.database, a.login, a.password), (c) =>
        c.query('SELECT count(*)::int AS n FROM notes'),
      ),
    ).toMatchObject({ rows: [{ n: 2 }] });
    expect(await withClient(owner, (c) => tenantRows(c, b.schema, b.tenantId))).toHaveLength(3);

    // A schema of that name on the host already is never written into.
    await expect(
      importTenantSchema(owner, Readable.from([dump]), { ...options, importId: 'u-other' }),
    ).rejects.toThrow(/has a schema .* already/);
  });

  /** A host with two schema tenants (two notes for a, one for b), as offboarding's tests have. */
  async function schemaHostForImport() {
    const { host, owner } = await sharedHost();
    const tenants = ['a', 'b'].map((n) => ({
      schema: `${host.appRole}_${n}`,
      role: `${host.appRole}_${n}_app`,
      login: appLoginRoles(`${host.appRole}_${n}_app`)[0],
      password: host.appPassword,
      tenantId: randomUUID(),
    }));
    for (const t of tenants) {
      extraRoles.push(...appLoginRoles(t.role), t.role);
      await migrate(owner, { placement: 'schema', schema: t.schema, tenantId: t.tenantId });
      await bootstrapAppRole(owner, {
        role: t.role,
        login: t.login,
        password: t.password,
        schema: t.schema,
        tenantId: t.tenantId,
      });
    }
    await withClient(owner, async (c) => {
      await seed(c, tenants[0].schema, tenants[0].tenantId, 2);
      await seed(c, tenants[1].schema, tenants[1].tenantId, 1);
    });
    return { owner, a: tenants[0], b: tenants[1] };
  }
});
