import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { quoteIdentifier } from '../../core/src';
import { uniqueToken } from '../../../test/support/test-config';
import {
  abortTenantCopy,
  copyProgress,
  cutOverCopy,
  loadTenantMigrations,
  migrateTenantSchema,
  MOVED_TENANT_SQLSTATE,
  releaseMovedSource,
  startTenantCopy,
  TenantCopyError,
  type CopySide,
  type MigrationTarget,
  type PgEndpoint,
  type TenantCopyPlan,
} from '../src';
import { eventually } from '../../../test/support/eventually';
import { TEST_MIGRATION_TIMEOUTS } from './tenant-db-fixtures';

/**
 * Copies of one tenant between databases of the local backend's own cluster (wal_level=logical),
 * as the cluster's superuser: the stand-in for RDS's master user with rds_replication.
 */
function instanceAdminUrl(): string {
  const url = process.env.SILO_TEST_INSTANCE_ADMIN_URL;
  if (!url)
    throw new Error(
      'SILO_TEST_INSTANCE_ADMIN_URL is not set: run through jest, whose global setup starts the cluster',
    );
  return url;
}

const databases: string[] = [];
const clients: Client[] = [];

afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
  await withAdmin(async (admin) => {
    const { rows } = await admin.query<{ slot_name: string }>(
      `SELECT slot_name FROM pg_replication_slots WHERE database = ANY($1)`,
      [databases],
    );
    for (const { slot_name } of rows)
      await admin.query('SELECT pg_drop_replication_slot($1)', [slot_name]).catch(() => undefined);
    for (const db of databases)
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(db)} WITH (FORCE)`);
  });
}, 60_000);

async function withAdmin<T>(work: (client: Client) => Promise<T>, database?: string): Promise<T> {
  const url = new URL(instanceAdminUrl());
  if (database) url.pathname = `/${database}`;
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function endpointOf(database: string): PgEndpoint {
  const url = new URL(instanceAdminUrl());
  return {
    host: url.hostname,
    port: Number(url.port),
    database,
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };
}

async function newDatabase(): Promise<string> {
  const name = `silo_mv_${uniqueToken()}`;
  databases.push(name);
  await withAdmin((admin) => admin.query(`CREATE DATABASE ${quoteIdentifier(name)}`));
  return name;
}

/**
 * A database migrated with the built-in schema (notes) into `into`, plus a counters table with a
 * sequence, keyed as a pool's table must be (a bigserial alone repeats across tenants' instances).
 */
async function migrated(into: MigrationTarget): Promise<CopySide> {
  const database = await newDatabase();
  const endpoint = endpointOf(database);
  await migrateTenantSchema(endpoint, loadTenantMigrations(), {
    ...TEST_MIGRATION_TIMEOUTS,
    appliedBy: 'test',
    tenant: database,
    into,
  });
  await withAdmin(
    (admin) =>
      admin.query(
        `CREATE TABLE ${quoteIdentifier(into.schema)}.counters (tenant_id uuid NOT NULL, id bigserial, v integer NOT NULL, PRIMARY KEY (tenant_id, id))`,
      ),
    database,
  );
  return { endpoint, placement: into.placement, schema: into.schema };
}

async function session(side: CopySide): Promise<Client> {
  const client = new Client({ ...side.endpoint });
  client.on('error', () => undefined);
  await client.connect();
  clients.push(client);
  return client;
}

/**
 * Writes of one tenant, one at a time: inserts, updates and deletes of notes. `acknowledged`
 * holds what the database committed (id → text, or deleted); refused writes are counted by
 * SQLSTATE and not acknowledged.
 */
class Writer {
  readonly notes = new Map<string, string | null>();
  readonly refused = new Map<string, number>();
  writes = 0;
  private stopped = false;
  private done?: Promise<void>;

  constructor(
    private readonly client: Client,
    private readonly schema: string,
    private readonly tenantId: string,
  ) {}

  /** Starts writing, knowing the tenant's rows as they are now. */
  async start(): Promise<this> {
    const { rows } = await this.client.query<{ id: string; text: string }>(
      `SELECT id, text FROM ${quoteIdentifier(this.schema)}.notes WHERE tenant_id = $1`,
      [this.tenantId],
    );
    for (const row of rows) this.notes.set(row.id, row.text);
    this.done = this.loop();
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  private async loop(): Promise<void> {
    const table = `${quoteIdentifier(this.schema)}.notes`;
    for (let i = 0; !this.stopped; i++) {
      const live = [...this.notes].filter(([, text]) => text !== null).map(([id]) => id);
      try {
        if (i % 5 === 3 && live.length > 0) {
          const id = live[i % live.length];
          const text = `edited ${i}`;
          await this.client.query(`UPDATE ${table} SET text = $1 WHERE id = $2 AND tenant_id = $3`, [
            text,
            id,
            this.tenantId,
          ]);
          this.notes.set(id, text);
        } else if (i % 7 === 6 && live.length > 0) {
          const id = live[0];
          await this.client.query(`DELETE FROM ${table} WHERE id = $1 AND tenant_id = $2`, [
            id,
            this.tenantId,
          ]);
          this.notes.set(id, null);
        } else {
          const text = `note ${i}`;
          const { rows } = await this.client.query<{ id: string }>(
            `INSERT INTO ${table} (tenant_id, text) VALUES ($1, $2) RETURNING id`,
            [this.tenantId, text],
          );
          this.notes.set(rows[0].id, text);
        }
        this.writes++;
      } catch (error) {
        const code = (error as { code?: string }).code ?? 'none';
        this.refused.set(code, (this.refused.get(code) ?? 0) + 1);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  }
}

async function notesOf(side: CopySide, tenantId: string): Promise<Map<string, string>> {
  return withAdmin(async (admin) => {
    const { rows } = await admin.query<{ id: string; text: string }>(
      `SELECT id, text FROM ${quoteIdentifier(side.schema)}.notes WHERE tenant_id = $1`,
      [tenantId],
    );
    return new Map(rows.map((r) => [r.id, r.text]));
  }, side.endpoint.database);
}

function expectAcknowledgedPresent(writer: Writer, found: Map<string, string>): void {
  const expected = new Map([...writer.notes].filter(([, text]) => text !== null) as Array<[string, string]>);
  expect(found.size).toBe(expected.size);
  expect(new Map([...found].sort())).toEqual(new Map([...expected].sort()));
}

async function streaming(plan: TenantCopyPlan): Promise<void> {
  await eventually(async () => expect((await copyProgress(plan)).streaming).toBe(true), 30_000, 50);
}

async function seed(side: CopySide, tenantId: string, rows: number): Promise<void> {
  await withAdmin(async (admin) => {
    await admin.query(
      `INSERT INTO ${quoteIdentifier(side.schema)}.notes (tenant_id, text) SELECT $1, 'seed ' || g FROM generate_series(1, $2) g`,
      [tenantId, rows],
    );
    await admin.query(
      `INSERT INTO ${quoteIdentifier(side.schema)}.counters (tenant_id, v) SELECT $1, g FROM generate_series(1, $2) g`,
      [tenantId, Math.ceil(rows / 10)],
    );
  }, side.endpoint.database);
}

describe('copying one tenant by logical replication', () => {
  it('moves a pooled tenant to its own instance under writes: every acknowledged write once, the neighbour untouched', async () => {
    const source = await migrated({ placement: 'pool', schema: 'app' });
    const target = await migrated({ placement: 'instance', schema: 'app' });
    const [moving, neighbour] = [randomUUID(), randomUUID()];
    await seed(source, moving, 2_000);
    await seed(source, neighbour, 500);
    const plan: TenantCopyPlan = { moveId: randomUUID(), tenantId: moving, source, target };

    const writer = await new Writer(await session(source), 'app', moving).start();
    const other = await new Writer(await session(source), 'app', neighbour).start();
    const { tables } = await startTenantCopy(plan);
    expect(tables).toEqual(['counters', 'notes']);
    // Run again after a crash: it finds what the first run made.
    await startTenantCopy(plan);
    await streaming(plan);
    await eventually(() => Promise.resolve(expect(writer.writes).toBeGreaterThan(50)), 10_000, 20);

    const result = await cutOverCopy(plan, { tables });
    await writer.stop();
    // The source refuses the moved tenant's writes for good, and no one else's.
    const late = await session(source);
    await expect(
      late.query(`INSERT INTO app.notes (tenant_id, text) VALUES ($1, 'late')`, [moving]),
    ).rejects.toMatchObject({
      code: MOVED_TENANT_SQLSTATE,
    });
    await eventually(
      () => Promise.resolve(expect(other.writes).toBeGreaterThan(writer.writes / 2 + 10)),
      10_000,
      20,
    );
    await other.stop();

    expect(other.refused.size).toBe(0);
    expectAcknowledgedPresent(writer, await notesOf(target, moving));
    // No other tenant's rows reached the target.
    await withAdmin(async (admin) => {
      const { rows } = await admin.query(`SELECT DISTINCT tenant_id FROM app.notes`);
      expect(rows).toEqual([{ tenant_id: moving }]);
    }, target.endpoint.database);
    expect(result.tables.find((t) => t.table === 'notes')?.rows).toBe((await notesOf(target, moving)).size);
    // Sequences run past the source's: the next counter on the target is new.
    expect(result.sequencesSet).toBe(1);
    await withAdmin(async (admin) => {
      const { rows } = await admin.query<{ id: string }>(
        `INSERT INTO app.counters (tenant_id, v) VALUES ($1, 0) RETURNING id`,
        [moving],
      );
      const max = await admin.query<{ max: string }>(
        `SELECT max(id)::text AS max FROM app.counters WHERE id <> $1`,
        [rows[0].id],
      );
      expect(BigInt(rows[0].id)).toBeGreaterThan(BigInt(max.rows[0].max));
    }, target.endpoint.database);
    // Nothing of the replication is left: the slot, the publication; the pool's tables keep their identity.
    await withAdmin(async (admin) => {
      const slots = await admin.query(`SELECT 1 FROM pg_replication_slots WHERE database = $1`, [
        source.endpoint.database,
      ]);
      expect(slots.rows).toHaveLength(0);
      const identity = await admin.query(
        `SELECT relreplident::text AS r FROM pg_class WHERE oid = 'app.notes'::regclass`,
      );
      expect(identity.rows).toEqual([{ r: 'd' }]);
    }, source.endpoint.database);
    // Once the source's rows are removed, its guard goes too.
    await releaseMovedSource(plan);
    await late.query(`INSERT INTO app.notes (tenant_id, text) VALUES ($1, 'after release')`, [moving]);
  }, 120_000);

  it("moves a schema tenant to an instance: the target's schema takes the source's name while it copies and gets its own back", async () => {
    const tenantId = randomUUID();
    const source = await migrated({ placement: 'schema', schema: 'acme', tenantId });
    const target = await migrated({ placement: 'instance', schema: 'app', tenantId });
    await seed(source, tenantId, 1_000);
    const plan: TenantCopyPlan = { moveId: randomUUID(), tenantId, source, target };
    const writer = await new Writer(await session(source), 'acme', tenantId).start();
    const { tables } = await startTenantCopy(plan);
    await streaming(plan);
    await eventually(() => Promise.resolve(expect(writer.writes).toBeGreaterThan(30)), 10_000, 20);
    await cutOverCopy(plan, { tables });
    await writer.stop();
    expectAcknowledgedPresent(writer, await notesOf(target, tenantId));
    await withAdmin(async (admin) => {
      const { rows } = await admin.query(`SELECT nspname FROM pg_namespace WHERE nspname IN ('app', 'acme')`);
      expect(rows).toEqual([{ nspname: 'app' }]);
    }, target.endpoint.database);
    // Cut over again (a crash after the freeze): it finishes without copying anything twice.
    await cutOverCopy(plan, { tables });
    expectAcknowledgedPresent(writer, await notesOf(target, tenantId));
  }, 120_000);

  it('moves two instance tenants into one schema host: they take turns at the staging name, and an abort gives the staged schema its own back', async () => {
    const [first, second] = [randomUUID(), randomUUID()];
    const host = await newDatabase();
    for (const [schema, tenantId] of [
      ['first', first],
      ['second', second],
    ])
      await migrateTenantSchema(endpointOf(host), loadTenantMigrations(), {
        ...TEST_MIGRATION_TIMEOUTS,
        appliedBy: 'test',
        tenant: schema,
        into: { placement: 'schema', schema, tenantId },
      });
    await withAdmin(async (admin) => {
      for (const schema of ['first', 'second'])
        await admin.query(
          `CREATE TABLE ${schema}.counters (tenant_id uuid NOT NULL, id bigserial, v integer NOT NULL, PRIMARY KEY (tenant_id, id))`,
        );
    }, host);
    const side = (schema: string): CopySide => ({ endpoint: endpointOf(host), placement: 'schema', schema });
    const schemasOfHost = () =>
      withAdmin(async (admin) => {
        const { rows } = await admin.query<{ nspname: string }>(
          `SELECT nspname FROM pg_namespace WHERE nspname IN ('app', 'first', 'second') ORDER BY nspname`,
        );
        return rows.map((r) => r.nspname);
      }, host);
    const one = await migrated({ placement: 'instance', schema: 'app', tenantId: first });
    const two = await migrated({ placement: 'instance', schema: 'app', tenantId: second });
    await seed(one, first, 100);
    await seed(two, second, 200);
    const planOne: TenantCopyPlan = {
      moveId: randomUUID(),
      tenantId: first,
      source: one,
      target: side('first'),
    };
    const planTwo: TenantCopyPlan = {
      moveId: randomUUID(),
      tenantId: second,
      source: two,
      target: side('second'),
    };

    await startTenantCopy(planOne);
    expect(await schemasOfHost()).toEqual(['app', 'second']);
    // The second waits its turn, before it holds anything on its source.
    await expect(startTenantCopy(planTwo)).rejects.toMatchObject({ code: 'target-busy' });
    await withAdmin(async (admin) => {
      const { rows } = await admin.query(`SELECT 1 FROM pg_replication_slots WHERE database = $1`, [
        two.endpoint.database,
      ]);
      expect(rows).toEqual([]);
    });
    // An abort gives `first` its name back; the second stages and cuts over.
    await abortTenantCopy(planOne);
    expect(await schemasOfHost()).toEqual(['first', 'second']);
    const { tables } = await startTenantCopy(planTwo);
    await streaming(planTwo);
    await cutOverCopy(planTwo, { tables });
    expect(await schemasOfHost()).toEqual(['first', 'second']);
    expect((await notesOf(side('second'), second)).size).toBe(200);
    expect((await notesOf(side('first'), first)).size).toBe(0);
    // A schema called `app` that is no move's is never taken for one.
    await withAdmin((admin) => admin.query('CREATE SCHEMA app'), host);
    await expect(startTenantCopy({ ...planOne, moveId: randomUUID() })).rejects.toMatchObject({
      code: 'target-not-empty',
    });
  }, 120_000);

  it('moves an instance tenant into a pool beside other tenants (a downgrade)', async () => {
    const tenantId = randomUUID();
    const source = await migrated({ placement: 'instance', schema: 'app', tenantId });
    const target = await migrated({ placement: 'pool', schema: 'app' });
    const resident = randomUUID();
    await seed(target, resident, 300);
    await seed(source, tenantId, 800);
    const plan: TenantCopyPlan = { moveId: randomUUID(), tenantId, source, target };
    const writer = await new Writer(await session(source), 'app', tenantId).start();
    const { tables } = await startTenantCopy(plan);
    await streaming(plan);
    await cutOverCopy(plan, { tables });
    await writer.stop();
    expectAcknowledgedPresent(writer, await notesOf(target, tenantId));
    expect((await notesOf(target, resident)).size).toBe(300);
  }, 120_000);

  it('refuses to cut over while the tenant holds a write open past the freeze timeout, leaving the source serving', async () => {
    const tenantId = randomUUID();
    const source = await migrated({ placement: 'instance', schema: 'app', tenantId });
    const target = await migrated({ placement: 'instance', schema: 'app', tenantId });
    await seed(source, tenantId, 10);
    const plan: TenantCopyPlan = { moveId: randomUUID(), tenantId, source, target };
    const { tables } = await startTenantCopy(plan);
    await streaming(plan);
    const open = await session(source);
    await open.query('BEGIN');
    await open.query(`INSERT INTO app.notes (tenant_id, text) VALUES ($1, 'open')`, [tenantId]);
    await expect(cutOverCopy(plan, { tables, freezeTimeoutMs: 300 })).rejects.toMatchObject({
      code: 'freeze-timeout',
    });
    await open.query('COMMIT');
    // Still serving, still streaming: the write made it, and the next cut-over carries it.
    await open.query(`INSERT INTO app.notes (tenant_id, text) VALUES ($1, 'after')`, [tenantId]);
    await cutOverCopy(plan, { tables, freezeTimeoutMs: 2_000 });
    expect([...(await notesOf(target, tenantId)).values()]).toEqual(
      expect.arrayContaining(['open', 'after']),
    );
  }, 120_000);

  it('aborts a copy: replication objects and guards gone, the source writable, the pool identity restored', async () => {
    const source = await migrated({ placement: 'pool', schema: 'app' });
    const target = await migrated({ placement: 'instance', schema: 'app' });
    const tenantId = randomUUID();
    await seed(source, tenantId, 100);
    const plan: TenantCopyPlan = { moveId: randomUUID(), tenantId, source, target };
    await startTenantCopy(plan);
    await streaming(plan);
    await abortTenantCopy(plan);
    await abortTenantCopy(plan);
    await withAdmin(async (admin) => {
      await admin.query(`INSERT INTO app.notes (tenant_id, text) VALUES ($1, 'still here')`, [tenantId]);
      const triggers = await admin.query(`SELECT 1 FROM pg_trigger WHERE tgname LIKE 'silo_move_%'`);
      expect(triggers.rows).toHaveLength(0);
      const pubs = await admin.query(`SELECT 1 FROM pg_publication`);
      expect(pubs.rows).toHaveLength(0);
      const identity = await admin.query(
        `SELECT relreplident::text AS r FROM pg_class WHERE oid = 'app.notes'::regclass`,
      );
      expect(identity.rows).toEqual([{ r: 'd' }]);
    }, source.endpoint.database);
    await withAdmin(async (admin) => {
      const subs = await admin.query(
        `SELECT 1 FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = $1)`,
        [target.endpoint.database],
      );
      expect(subs.rows).toHaveLength(0);
    }, target.endpoint.database);
  }, 120_000);

  it('refuses a target that already holds rows of the tenant, naming the table', async () => {
    const source = await migrated({ placement: 'pool', schema: 'app' });
    const target = await migrated({ placement: 'pool', schema: 'app' });
    const tenantId = randomUUID();
    await seed(source, tenantId, 5);
    await seed(target, tenantId, 5);
    const plan: TenantCopyPlan = { moveId: randomUUID(), tenantId, source, target };
    const attempt = startTenantCopy(plan);
    await expect(attempt).rejects.toBeInstanceOf(TenantCopyError);
    await expect(attempt).rejects.toThrow(/the target's counters already holds rows of tenant/);
    await abortTenantCopy(plan);
  }, 60_000);
});
