import { Client } from 'pg';
import { DataSource, type QueryRunner } from 'typeorm';
import { pgClientConfig, type PgEndpoint } from '../pg-endpoint';
import { pgErrorKind, serverSqlState } from '../pg-error-kind';
import { BUILT_IN_TENANT_MIGRATIONS_DIR } from './load-tenant-migrations';
import {
  checkedTarget,
  INSTANCE_TARGET,
  ledgerTable,
  migrationLockKey,
  SCHEMA_LEDGERS_SCHEMA,
  type MigrationTarget,
} from '../placements/migration-target';
import { enforceTenantIsolation, TENANT_SETTING, TenantIsolationError } from '../placements/tenant-isolation';
import {
  findMigration,
  versionOrder,
  type MigrationSession,
  type TenantMigration,
  type TenantMigrationSet,
} from './tenant-migration';

/** The ledger of applied migrations, one per tenant database (in `public`, owned by the owner). */
export const TENANT_SCHEMA_LEDGER = 'silo_schema_ledger';
/** The TypeORM migrations table of earlier Silo versions, adopted once (see {@link migrateTenantSchema}). */
const LEGACY_TYPEORM_TABLE = 'silo_schema_migrations';
const LEGACY_NOTES_MIGRATION = 'TenantNotes1795400000000';
/**
 * The built-in 0001 as it was before every tenant table carried tenant_id (it created
 * `app.notes` without it): databases that applied it stay valid, and the built-in 0002 adds the
 * column there (and does nothing where the newer 0001 already made it).
 */
const EARLIER_BUILT_IN_CHECKSUMS: Readonly<Record<string, string>> = {
  '1': '16018ee00175def779554cd53cf8545a3d6f9ff67119a73dad09a4cc32eebac1',
};
const LOCK_KEY = 'silo:tenant-schema-migrations';
const APPLICATION_NAME = 'silo-tenant-migrations';

/** One row of a tenant database's ledger. */
export interface LedgerEntry {
  version: string;
  name: string;
  checksum: string;
  appliedAt: Date;
  durationMs: number;
  appliedBy: string;
}

export interface MigrateTenantOptions {
  /** Apply up to this version (inclusive). Default the set's newest. */
  target?: string;
  /** `lock_timeout` of every statement, the ledger lock included (SQLSTATE 55P03 past it). */
  lockTimeoutMs: number;
  /** `statement_timeout` of every statement (SQLSTATE 57014 past it). */
  statementTimeoutMs: number;
  /** Who applies, kept in the ledger: `provision`, `rollout:<id>`. */
  appliedBy: string;
  /** The tenant, for messages (its slug; the host's name for a pool database). */
  tenant: string;
  /** Which target of the database: default an instance's (schema `app`, no tenant id). */
  into?: MigrationTarget;
}

export interface AppliedMigration {
  version: string;
  name: string;
  durationMs: number;
}

export interface TenantMigrateResult {
  /** The newest version in the ledger before this call (null: none). */
  from: string | null;
  /** What this call applied, in order. */
  applied: AppliedMigration[];
  /** The newest version in the ledger now. */
  schemaVersion: string | null;
}

export type TenantMigrationErrorCode =
  /** The ledger holds a checksum that differs from the file of that version. */
  | 'CHECKSUM_MISMATCH'
  /** The ledger holds a version the set has no file for. */
  | 'MISSING_MIGRATION'
  /** A migration is pending below a version already applied. */
  | 'OUT_OF_ORDER'
  /** A migration's SQL failed; nothing of it was applied (for a transactional one). */
  | 'MIGRATION_FAILED'
  /** Another migrator held this database's migration lock past the lock timeout. */
  | 'LEDGER_LOCKED'
  /**
   * The connection or the server went away during a migration (or it lost a deadlock or
   * serialization race): that migration was not applied; running again may succeed.
   */
  | 'INTERRUPTED';

/** A tenant the migrator refused, or a migration that failed there. Never holds a credential or host. */
export class TenantMigrationError extends Error {
  override readonly name = 'TenantMigrationError';
  constructor(
    readonly code: TenantMigrationErrorCode,
    message: string,
    readonly details: {
      /** The newest version applied when it stopped. */
      reached: string | null;
      /** The migration concerned: its version and file. */
      version?: string;
      migration?: string;
      sqlState?: string;
    },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Whether running the same migrations again may succeed without anyone changing anything. */
  get retryable(): boolean {
    return this.code === 'INTERRUPTED' || this.code === 'LEDGER_LOCKED';
  }
}

/**
 * Brings one tenant database to `options.target` (default the newest), as its owner.
 *
 * First it validates, as Flyway's validate does, and applies nothing to a tenant that fails: a
 * ledger checksum that differs from its file, a ledger version without a file, or a pending
 * version below one already applied. Then each pending migration runs in its own transaction
 * together with its ledger row, so it is applied exactly once or not at all; a
 * `-- silo:no-transaction` one runs statement by statement and its row follows (a crash between
 * the two runs it again, so such files must be re-runnable: `IF NOT EXISTS`).
 *
 * Concurrent callers on one database queue on an advisory lock. Every statement runs under the
 * given `lock_timeout` and `statement_timeout`, so a table locked by a long transaction fails the
 * tenant with SQLSTATE 55P03 instead of hanging.
 */
export async function migrateTenantSchema(
  owner: PgEndpoint,
  set: TenantMigrationSet,
  options: MigrateTenantOptions,
): Promise<TenantMigrateResult> {
  const target =
    options.target === undefined
      ? set.migrations[set.migrations.length - 1]
      : findMigration(set, options.target);
  if (!target)
    throw new Error(`${options.target} is not a version of the tenant migrations in ${set.location}`);
  // A statement the server never answers (a partition mid-migration) must not hold the tenant's
  // lock for ever: keep-alives notice a dead peer, and the client gives up past the server's own limit.
  const into = checkedTarget(options.into ?? INSTANCE_TARGET);
  const ledger = ledgerTable(into, TENANT_SCHEMA_LEDGER);
  const clientTimeouts = { keepAlive: true, query_timeout: Math.trunc(options.statementTimeoutMs) + 30_000 };
  return withSession(owner, set, clientTimeouts, async (session) => {
    await session.query(
      `SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)`,
      [`${Math.trunc(options.lockTimeoutMs)}ms`, `${Math.trunc(options.statementTimeoutMs)}ms`],
    );
    await takeMigrationLock(session, options, migrationLockKey(into, LOCK_KEY));
    await session.query(`CREATE SCHEMA IF NOT EXISTS ${into.quotedSchema}`);
    // Unqualified names land in the target's schema. An instance or schema target holds one
    // tenant's rows: with app.tenant_id set, a backfill sees them and a new tenant_id column is
    // filled. A pool database's migrations run for every tenant at once: with row_security off, a
    // statement that reads or writes rows of a tenant table fails instead of seeing none.
    await session.query(`SELECT set_config('search_path', $1, false)`, [into.quotedSchema]);
    if (into.tenantId !== undefined)
      await session.query(`SELECT set_config($1, $2, false)`, [TENANT_SETTING, into.tenantId]);
    if (into.placement === 'pool') await session.query(`SELECT set_config('row_security', 'off', false)`);
    await ensureLedger(session, set, into, ledger);
    const entries = await readLedgerRows(session, ledger);
    const from = newestOf(entries);
    const pending = validate(set, entries, target, options.tenant, from);

    const applied: AppliedMigration[] = [];
    let reached = from;
    for (const migration of pending) {
      const started = performance.now();
      try {
        if (migration.transactional) await session.begin();
        await migration.up(session);
        await enforceTenantIsolation(session, into);
        const durationMs = Math.round(performance.now() - started);
        await session.query(
          `INSERT INTO ${ledger} (version, name, checksum, duration_ms, applied_by)
           VALUES ($1, $2, $3, $4, $5)`,
          [migration.version, migration.name, migration.checksum, durationMs, options.appliedBy],
        );
        if (migration.transactional) await session.commit();
        applied.push({ version: migration.version, name: migration.name, durationMs });
        reached = migration.version;
      } catch (error) {
        if (migration.transactional) await session.rollback().catch(() => undefined);
        throw migrationFailure(error, migration, reached, options.tenant);
      }
    }
    return { from, applied, schemaVersion: reached };
  });
}

/** The ledger of a migration target (default an instance's), oldest first (empty when it has none yet). */
export async function readTenantLedger(
  owner: PgEndpoint,
  into: MigrationTarget = INSTANCE_TARGET,
): Promise<LedgerEntry[]> {
  const ledger = ledgerTable(checkedTarget(into), TENANT_SCHEMA_LEDGER);
  const client = new Client(pgClientConfig(owner, APPLICATION_NAME));
  client.on('error', () => undefined);
  await client.connect();
  try {
    const exists = await client.query(`SELECT to_regclass($1) IS NOT NULL AS present`, [ledger]);
    if (!(exists.rows[0] as { present: boolean }).present) return [];
    return await readLedgerRows({ query: (sql, params) => client.query(sql, params) }, ledger);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Why `migration` did not apply, with where the tenant stands. A refusal by the server keeps
 * the server's message (it names relations and columns, never hosts or credentials); an
 * interruption keeps only its code, since a driver's message can name the host.
 */
function migrationFailure(
  error: unknown,
  migration: TenantMigration,
  reached: string | null,
  tenant: string,
): TenantMigrationError {
  const state = serverSqlState(error);
  const at = { reached, version: migration.version, migration: migration.source, sqlState: state };
  if (pgErrorKind(error) === 'transient') {
    const raw = (error as { code?: unknown } | null)?.code;
    const code = state ?? (typeof raw === 'string' ? raw : 'connection lost');
    return new TenantMigrationError(
      'INTERRUPTED',
      `${tenant}: ${migration.source} was interrupted (${code}); it was not applied`,
      at,
      { cause: error },
    );
  }
  const reason = error instanceof Error ? error.message : String(error);
  if (error instanceof TenantIsolationError)
    return new TenantMigrationError(
      'MIGRATION_FAILED',
      `${tenant}: ${migration.source} was refused: ${reason}`,
      at,
      {
        cause: error,
      },
    );
  return new TenantMigrationError(
    'MIGRATION_FAILED',
    `${tenant}: ${migration.source} failed${state ? ` with SQLSTATE ${state}` : ''}: ${reason}`,
    at,
    { cause: error },
  );
}

/**
 * The database's migration lock, polled rather than waited for inside a statement: a waiting
 * statement holds a snapshot, and the holder's CREATE INDEX CONCURRENTLY waits for every such
 * snapshot to end, which PostgreSQL reports as a deadlock.
 */
async function takeMigrationLock(
  session: Session,
  options: MigrateTenantOptions,
  key: string,
): Promise<void> {
  const deadline = performance.now() + options.lockTimeoutMs;
  for (;;) {
    const [{ locked }] = rows<{ locked: boolean }>(
      await session.query('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [key]),
    );
    if (locked) return;
    if (performance.now() >= deadline) {
      throw new TenantMigrationError(
        'LEDGER_LOCKED',
        `${options.tenant}: another migrator held the tenant database's migration lock for more than ${options.lockTimeoutMs} ms`,
        { reached: null, sqlState: '55P03' },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function validate(
  set: TenantMigrationSet,
  ledger: LedgerEntry[],
  target: TenantMigration,
  tenant: string,
  from: string | null,
): TenantMigration[] {
  for (const entry of ledger) {
    const file = findMigration(set, entry.version);
    if (!file) {
      throw new TenantMigrationError(
        'MISSING_MIGRATION',
        `${tenant}: version ${entry.version} (${entry.name}) is applied but ${set.location} has no migration with that version`,
        { reached: from, version: entry.version },
      );
    }
    const earlier =
      set.location === BUILT_IN_TENANT_MIGRATIONS_DIR
        ? EARLIER_BUILT_IN_CHECKSUMS[String(file.order)]
        : undefined;
    if (file.checksum !== entry.checksum && entry.checksum !== earlier) {
      throw new TenantMigrationError(
        'CHECKSUM_MISMATCH',
        `${tenant}: ${file.source} was changed after it was applied (checksum in the tenant's ledger ${entry.checksum}, of the file ${file.checksum}); nothing was applied`,
        { reached: from, version: file.version, migration: file.source },
      );
    }
  }
  const applied = new Set(ledger.map((e) => versionOrder(e.version)));
  const newestApplied = from === null ? -1n : versionOrder(from)!;
  const pending = set.migrations.filter((m) => !applied.has(m.order) && m.order <= target.order);
  const early = pending.find((m) => m.order < newestApplied);
  if (early) {
    throw new TenantMigrationError(
      'OUT_OF_ORDER',
      `${tenant}: ${early.source} is not applied but the newer ${from} is; out-of-order migrations are refused (give it a version above ${from})`,
      { reached: from, version: early.version, migration: early.source },
    );
  }
  return pending;
}

async function ensureLedger(
  session: Session,
  set: TenantMigrationSet,
  into: MigrationTarget,
  ledger: string,
): Promise<void> {
  const [{ present, legacy }] = rows<{ present: boolean; legacy: boolean }>(
    await session.query(
      `SELECT to_regclass($1) IS NOT NULL AS present, to_regclass($2) IS NOT NULL AS legacy`,
      [ledger, `public.${LEGACY_TYPEORM_TABLE}`],
    ),
  );
  if (present) return;
  // Schema tenants' ledgers live apart from their schemas, where their roles cannot reach them.
  if (into.placement === 'schema') await ensureLedgersSchema(session);
  // The table and an adopted row together: a crash between them would leave an empty ledger
  // over a schema that is already there.
  await session.begin();
  try {
    await createLedger(session, set, ledger, legacy && into.placement === 'instance');
    await session.commit();
  } catch (error) {
    await session.rollback().catch(() => undefined);
    throw error;
  }
}

/**
 * `silo_ledgers`, made by one session at a time: two schema tenants of one host migrate at once
 * (their locks are per schema), and IF NOT EXISTS alone races on the catalog's unique index. The
 * lock is the session's and is taken before the transaction begins: a transaction's start takes
 * in the catalog changes other sessions committed, and waiting on an advisory lock does not, so
 * a creation serialised inside the transaction still missed the schema the other session had
 * made meanwhile (its earlier lookup of the ledger cached "no such schema") and failed with
 * 23505 on pg_namespace_nspname_index.
 */
async function ensureLedgersSchema(session: Session): Promise<void> {
  const key = `silo:${SCHEMA_LEDGERS_SCHEMA}`;
  await session.query(`SELECT pg_advisory_lock(hashtext($1))`, [key]);
  try {
    await session.begin();
    try {
      await session.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA_LEDGERS_SCHEMA}`);
      await session.commit();
    } catch (error) {
      await session.rollback().catch(() => undefined);
      throw error;
    }
  } finally {
    await session.query(`SELECT pg_advisory_unlock(hashtext($1))`, [key]).catch(() => undefined);
  }
}

async function createLedger(
  session: Session,
  set: TenantMigrationSet,
  ledger: string,
  legacy: boolean,
): Promise<void> {
  await session.query(ledgerDdl(ledger));
  // Databases migrated by an earlier Silo (TypeORM's table, the notes migration) already have
  // what the built-in 0001 creates: record it as applied rather than fail on CREATE TABLE.
  const first = set.migrations[0];
  if (legacy && set.location === BUILT_IN_TENANT_MIGRATIONS_DIR) {
    const adopted = rows(
      await session.query(`SELECT 1 FROM public.${LEGACY_TYPEORM_TABLE} WHERE name = $1`, [
        LEGACY_NOTES_MIGRATION,
      ]),
    );
    if (adopted.length) {
      await session.query(
        `INSERT INTO ${ledger} (version, name, checksum, duration_ms, applied_by)
         VALUES ($1, $2, $3, 0, 'adopted:typeorm')`,
        [first.version, first.name, EARLIER_BUILT_IN_CHECKSUMS[String(first.order)] ?? first.checksum],
      );
    }
  }
}

function ledgerDdl(ledger: string): string {
  return `
    CREATE TABLE ${ledger} (
      version text PRIMARY KEY,
      name text NOT NULL,
      checksum char(64) NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now(),
      duration_ms integer NOT NULL CHECK (duration_ms >= 0),
      applied_by text NOT NULL
    )`;
}

/**
 * SQL that makes the ledger of `into` anew, recording the set's migrations up to `upTo`
 * (inclusive) as applied by `appliedBy` with the files' checksums: for a schema put back from a
 * dump that holds its tables and not its ledger (a schema tenant's ledger lives apart from its
 * schema). Fails (as SQL) where a ledger is there already. `upTo` must be a version of the set.
 */
export function ledgerRebuildSql(
  set: TenantMigrationSet,
  into: MigrationTarget,
  upTo: string,
  appliedBy: string,
): string {
  const target = checkedTarget(into);
  const last = findMigration(set, upTo);
  if (!last)
    throw new Error(`schema version ${upTo} is not one of the application's migrations (${set.location})`);
  const ledger = ledgerTable(target, TENANT_SCHEMA_LEDGER);
  const literal = (value: string) => `'${value.replace(/'/g, "''")}'`;
  const rowsUpTo = set.migrations.filter((m) => m.order <= last.order);
  return [
    ...(target.placement === 'schema'
      ? [
          `SELECT pg_advisory_xact_lock(hashtext(${literal(`silo:${SCHEMA_LEDGERS_SCHEMA}`)}));`,
          `CREATE SCHEMA IF NOT EXISTS ${SCHEMA_LEDGERS_SCHEMA};`,
        ]
      : []),
    `${ledgerDdl(ledger)};`,
    `INSERT INTO ${ledger} (version, name, checksum, duration_ms, applied_by) VALUES`,
    rowsUpTo
      .map(
        (m) =>
          `  (${literal(m.version)}, ${literal(m.name)}, ${literal(m.checksum)}, 0, ${literal(appliedBy)})`,
      )
      .join(',\n') + ';',
  ].join('\n');
}

async function readLedgerRows(session: Pick<Session, 'query'>, ledger: string): Promise<LedgerEntry[]> {
  const found = rows<{
    version: string;
    name: string;
    checksum: string;
    applied_at: Date;
    duration_ms: number;
    applied_by: string;
  }>(
    await session.query(`SELECT version, name, checksum, applied_at, duration_ms, applied_by FROM ${ledger}`),
  );
  return found
    .map((r) => ({
      version: r.version,
      name: r.name,
      checksum: r.checksum.trim(),
      appliedAt: r.applied_at,
      durationMs: r.duration_ms,
      appliedBy: r.applied_by,
    }))
    .sort((a, b) => (versionOrder(a.version)! < versionOrder(b.version)! ? -1 : 1));
}

function newestOf(ledger: LedgerEntry[]): string | null {
  return ledger.length ? ledger[ledger.length - 1].version : null;
}

/** One connection to the tenant database, as the set's kind needs it. */
interface Session extends MigrationSession {
  begin(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

async function withSession<T>(
  owner: PgEndpoint,
  set: TenantMigrationSet,
  timeouts: { keepAlive: boolean; query_timeout: number },
  work: (session: Session) => Promise<T>,
): Promise<T> {
  if (set.kind === 'sql') {
    const client = new Client({ ...pgClientConfig(owner, APPLICATION_NAME), ...timeouts });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await work({
        query: (sql, params) => client.query(sql, params),
        begin: async () => void (await client.query('BEGIN')),
        commit: async () => void (await client.query('COMMIT')),
        rollback: async () => void (await client.query('ROLLBACK')),
      });
    } finally {
      // Ending the session also frees the advisory lock.
      await client.end().catch(() => undefined);
    }
  }
  const dataSource = new DataSource({
    type: 'postgres',
    host: owner.host,
    port: owner.port,
    database: owner.database,
    username: owner.user,
    password: owner.password,
    ssl: owner.ssl ?? false,
    synchronize: false,
    logging: false,
    applicationName: APPLICATION_NAME,
    extra: {
      max: 1,
      connectionTimeoutMillis: pgClientConfig(owner, APPLICATION_NAME).connectionTimeoutMillis,
      ...timeouts,
    },
  });
  await dataSource.initialize();
  const runner: QueryRunner = dataSource.createQueryRunner();
  try {
    await runner.connect();
    // TypeORM migrations are handed the QueryRunner itself, so schema-builder calls work too.
    const session: QueryRunner & Session = Object.assign(runner, {
      begin: () => runner.startTransaction(),
      commit: () => runner.commitTransaction(),
      rollback: () => runner.rollbackTransaction(),
    });
    return await work(session);
  } finally {
    await runner.release().catch(() => undefined);
    await dataSource.destroy().catch(() => undefined);
  }
}

function rows<T = Record<string, unknown>>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return (result as { rows?: T[] }).rows ?? [];
}
