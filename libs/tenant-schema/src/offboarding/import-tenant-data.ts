import { APP_SCHEMA, quoteIdentifier } from '@silo/core';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import type { Client } from 'pg';
import { DEFAULT_CONNECT_TIMEOUT_MS, pgClientConfig, withPgClient, type PgEndpoint } from '../pg-endpoint';
import { checkedTarget } from '../placements/migration-target';
import { TENANT_ID_COLUMN, TENANT_SETTING } from '../placements/tenant-isolation';
import { scrub, tlsEnvironment } from './dump-tenant-schema';
import { TENANT_ROWS_FORMAT, type TenantRowsRecord } from './export-tenant-rows';
import { assertTenantId, beginAsTenant, listTenantTables } from './tenant-tables';

/**
 * The schema of a host's restore bookkeeping (`imports` here; restores in place keep `swaps`
 * beside it): which imports a host has committed, so that a re-run after a crash knows.
 */
export const IMPORTS_SCHEMA = 'silo_restore';
const APPLICATION_NAME = 'silo-tenant-import';
/** Rows per INSERT while importing (one statement's parameter, a JSON array of rows). */
const INSERT_BATCH_ROWS = 500;

/** An export that cannot be imported as it is; the message names the table or line. */
export class TenantImportError extends Error {
  override readonly name = 'TenantImportError';
  constructor(
    message: string,
    /** Trying again may succeed (psql lost its connection); otherwise the export or the host must change. */
    readonly retryable = false,
  ) {
    super(message);
  }
}

export interface TenantRowsImportOptions {
  tenantId: string;
  /** Names this import on the host: an import already committed under it is not made again. */
  importId: string;
  /** The schema of the shared tables. Default `app` (a pool database's). */
  schema?: string;
  /** lock_timeout of the import's transaction. Default 5000. */
  lockTimeoutMs?: number;
  /** statement_timeout of each statement. Default 300000. */
  statementTimeoutMs?: number;
}

/** What an import put in place, or found put in place by an earlier run (`already`). */
export interface TenantImportResult {
  already: boolean;
  /** Rows put in per table (empty when `already`). */
  rows: Record<string, number>;
}

/**
 * Puts a rows export (exportTenantRows' `silo-tenant-rows/1` NDJSON) back into a pool database,
 * as the host's owner, in one transaction with `app.tenant_id` set to the tenant:
 * - the tenant's rows left in the schema's tables (none, after its deletion) are deleted first;
 * - each record's rows are inserted as the export wrote them, parents before children: every
 *   value is PostgreSQL's text form, cast to its column's type (`INSERT … SELECT`, as
 *   row-level security refuses COPY FROM to a role it binds);
 * - a table or column the export names and the database no longer has, an export of another
 *   tenant, or one cut short (no end record, or counts that differ) fails the whole import;
 * - the import is recorded in `silo_restore.imports` in the same transaction: run again after a
 *   commit, it changes nothing and answers `already`.
 * Other tenants' rows are never touched: each statement is held by the tenant's row-level
 * security and filtered on `tenant_id`. Neighbours' writes to the same tables go on meanwhile.
 */
export async function importTenantRows(
  owner: PgEndpoint,
  body: Readable,
  options: TenantRowsImportOptions,
): Promise<TenantImportResult> {
  const schema = options.schema ?? APP_SCHEMA;
  quoteIdentifier(schema, 'tenant schema');
  assertTenantId(options.tenantId);
  return withPgClient(pgClientConfig(owner, APPLICATION_NAME), async (client) => {
    await ensureImportsTable(client);
    await beginAsTenant(client, options.tenantId, {
      lockTimeoutMs: options.lockTimeoutMs ?? 5000,
      statementTimeoutMs: options.statementTimeoutMs ?? 300_000,
    });
    try {
      if (await imported(client, options.importId)) {
        await client.query('ROLLBACK');
        body.destroy();
        return { already: true, rows: {} };
      }
      const rows = await insertExport(client, body, schema, options.tenantId);
      await recordImport(client, options.importId, options.tenantId);
      await client.query('COMMIT');
      return { already: false, rows };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      body.destroy();
      throw error;
    }
  });
}

async function insertExport(
  client: Client,
  body: Readable,
  schema: string,
  tenantId: string,
): Promise<Record<string, number>> {
  const tables = new Map((await listTenantTables(client, schema)).map((t) => [t.name, t]));
  for (const table of [...tables.values()].reverse())
    await client.query(`DELETE FROM ${table.qualified} WHERE ${TENANT_ID_COLUMN} = $1`, [tenantId]);
  const types = await columnTypes(client, schema);
  const inserted: Record<string, number> = {};
  let header = false;
  let end: Record<string, number> | null = null;
  let line = 0;
  for await (const text of createInterface({ input: body, crlfDelay: Infinity })) {
    line += 1;
    if (!text.trim()) continue;
    const record = parseRecord(text, line);
    if (!header) {
      if (!('format' in record) || record.format !== TENANT_ROWS_FORMAT)
        throw new TenantImportError(
          `line 1 is not a ${TENANT_ROWS_FORMAT} header: this is not a rows export`,
        );
      if (record.tenantId !== tenantId)
        throw new TenantImportError(`the export holds tenant ${record.tenantId}'s rows, not ${tenantId}'s`);
      header = true;
      continue;
    }
    if (end) throw new TenantImportError(`line ${line} follows the export's end record`);
    if ('end' in record) {
      end = record.rows;
      continue;
    }
    if (!('table' in record)) throw new TenantImportError(`line ${line} is not a table record`);
    const table = tables.get(record.table);
    if (!table)
      throw new TenantImportError(
        `the export has rows of table ${record.table}, which ${schema} no longer has: migrate the database to the export's tables, or import by hand`,
      );
    const columnTypesOf = types.get(record.table) ?? new Map<string, string>();
    const missing = record.columns.filter((c) => !columnTypesOf.has(c));
    if (missing.length)
      throw new TenantImportError(
        `the export has column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${record.table}, which ${schema}.${record.table} no longer has`,
      );
    if (!record.columns.includes(TENANT_ID_COLUMN))
      throw new TenantImportError(`the export's ${record.table} rows carry no ${TENANT_ID_COLUMN}`);
    const rows = parseCsvRows(record.csv, record.table);
    inserted[record.table] = (inserted[record.table] ?? 0) + rows.length;
    const select = record.columns.map((c, i) => `(r->>${i})::${columnTypesOf.get(c)}`).join(', ');
    const into = `${table.qualified} (${record.columns.map((c) => quoteIdentifier(c, 'column name')).join(', ')})`;
    for (let at = 0; at < rows.length; at += INSERT_BATCH_ROWS) {
      const batch = rows.slice(at, at + INSERT_BATCH_ROWS);
      const tenantColumn = record.columns.indexOf(TENANT_ID_COLUMN);
      if (batch.some((row) => row[tenantColumn] !== tenantId))
        throw new TenantImportError(`the export's ${record.table} rows include another tenant's`);
      await client.query(
        `INSERT INTO ${into} OVERRIDING SYSTEM VALUE SELECT ${select} FROM json_array_elements($1::json) r`,
        [JSON.stringify(batch)],
      );
    }
  }
  if (!header) throw new TenantImportError('the export is empty');
  if (!end) throw new TenantImportError('the export has no end record: it was cut short');
  for (const [table, count] of Object.entries(end))
    if ((inserted[table] ?? 0) !== count)
      throw new TenantImportError(
        `the export's end record counts ${count} rows of ${table}, and its records hold ${inserted[table] ?? 0}`,
      );
  return inserted;
}

function parseRecord(text: string, line: number): TenantRowsRecord {
  try {
    return JSON.parse(text) as TenantRowsRecord;
  } catch {
    throw new TenantImportError(`line ${line} of the export is not JSON`);
  }
}

/**
 * The rows of a record's `csv`: PostgreSQL's CSV as exportTenantRows writes it (each non-NULL
 * value quoted, `""` for a quote inside, NULL empty and unquoted, a new line after each row).
 */
export function parseCsvRows(csv: string, table = 'table'): Array<Array<string | null>> {
  const rows: Array<Array<string | null>> = [];
  let row: Array<string | null> = [];
  let i = 0;
  const bad = () =>
    new TenantImportError(`the export's ${table} rows are not CSV as exported (at character ${i})`);
  while (i < csv.length) {
    if (csv[i] === '"') {
      let value = '';
      i += 1;
      for (;;) {
        const quote = csv.indexOf('"', i);
        if (quote === -1) throw bad();
        value += csv.slice(i, quote);
        if (csv[quote + 1] === '"') {
          value += '"';
          i = quote + 2;
        } else {
          i = quote + 1;
          break;
        }
      }
      row.push(value);
    } else if (csv[i] === ',' || csv[i] === '\n') {
      row.push(null);
    } else throw bad();
    if (csv[i] === ',') {
      i += 1;
      if (csv[i] === '\n' || i === csv.length) row.push(null);
    }
    if (csv[i] === '\n') {
      rows.push(row);
      row = [];
      i += 1;
    } else if (i < csv.length && csv[i] !== '"' && csv[i] !== ',') throw bad();
  }
  if (row.length) throw bad();
  return rows;
}

/** Each table's stored columns and their types as SQL spells them (format_type), per table of `schema`. */
async function columnTypes(client: Client, schema: string): Promise<Map<string, Map<string, string>>> {
  const { rows } = await client.query<{ table: string; column: string; type: string }>(
    `SELECT c.relname AS "table", a.attname AS "column", format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''`,
    [schema],
  );
  const types = new Map<string, Map<string, string>>();
  for (const row of rows) {
    const table = types.get(row.table) ?? new Map<string, string>();
    table.set(row.column, row.type);
    types.set(row.table, table);
  }
  return types;
}

/** `silo_restore.imports`, made once per database (serialised: CREATE … IF NOT EXISTS races on the catalog). */
async function ensureImportsTable(client: Client): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`silo:${IMPORTS_SCHEMA}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${IMPORTS_SCHEMA}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${IMPORTS_SCHEMA}.imports (import_id text PRIMARY KEY, tenant_id uuid NOT NULL, done_at timestamptz NOT NULL DEFAULT now())`,
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

async function imported(client: Pick<Client, 'query'>, importId: string): Promise<boolean> {
  const found = await client.query(`SELECT 1 FROM ${IMPORTS_SCHEMA}.imports WHERE import_id = $1`, [
    importId,
  ]);
  return (found.rowCount ?? 0) > 0;
}

async function recordImport(
  client: Pick<Client, 'query'>,
  importId: string,
  tenantId: string,
): Promise<void> {
  await client.query(`INSERT INTO ${IMPORTS_SCHEMA}.imports (import_id, tenant_id) VALUES ($1, $2)`, [
    importId,
    tenantId,
  ]);
}

/** Whether the host committed the import `importId` (a pool's rows or a schema's dump). */
export async function tenantImported(owner: PgEndpoint, importId: string): Promise<boolean> {
  return withPgClient(pgClientConfig(owner, APPLICATION_NAME), async (client) => {
    const present = await client.query<{ present: boolean }>(
      `SELECT to_regclass($1) IS NOT NULL AS present`,
      [`${IMPORTS_SCHEMA}.imports`],
    );
    return present.rows[0]?.present === true && imported(client, importId);
  });
}

export interface TenantSchemaImportOptions {
  /** The schema tenant's schema: the dump's, and not on the host yet. */
  schema: string;
  tenantId: string;
  importId: string;
  /** SQL run in the import's transaction after the dump (the tenant's migration ledger). */
  after?: string;
  /** The pg_restore and psql executables. Default on the PATH. */
  pgRestore?: string;
  psql?: string;
}

/**
 * Puts a schema tenant's dump (dumpTenantSchema's custom format) back on a host, as the host's
 * owner, in one transaction: pg_restore turns the dump into SQL (no owners, no grants: objects
 * are the owner's, as migrations leave them) and psql runs it between BEGIN and COMMIT with
 * `ON_ERROR_STOP`, `app.tenant_id` set to the tenant (its forced row-level security lets the rows
 * in), followed by `after` and the import's row in `silo_restore.imports`. A failure anywhere
 * leaves the host as it was; run again after a commit, it changes nothing and answers `already`.
 * A schema of that name on the host already (and no import of this id) fails before anything.
 * The password reaches psql through its environment, never its command line.
 */
export async function importTenantSchema(
  owner: PgEndpoint,
  dump: Readable,
  options: TenantSchemaImportOptions,
): Promise<TenantImportResult> {
  checkedTarget({ placement: 'schema', schema: options.schema });
  assertTenantId(options.tenantId);
  const taken = await withPgClient(pgClientConfig(owner, APPLICATION_NAME), async (client) => {
    await ensureImportsTable(client);
    if (await imported(client, options.importId)) return 'already' as const;
    const found = await client.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [options.schema]);
    return found.rowCount ? ('taken' as const) : null;
  });
  if (taken === 'already') {
    dump.destroy();
    return { already: true, rows: {} };
  }
  if (taken === 'taken') {
    dump.destroy();
    throw new TenantImportError(
      `the host has a schema ${options.schema} already: the dump is restored into a schema of that name only`,
    );
  }
  const literal = (value: string) => `'${value.replace(/'/g, "''")}'`;
  const prelude = [
    'BEGIN;',
    `SELECT set_config(${literal(TENANT_SETTING)}, ${literal(options.tenantId)}, true);`,
    '',
  ].join('\n');
  const epilogue = [
    '',
    // pg_restore's SQL empties search_path; what follows names its schemas.
    options.after ?? '',
    `INSERT INTO ${IMPORTS_SCHEMA}.imports (import_id, tenant_id) VALUES (${literal(options.importId)}, ${literal(options.tenantId)});`,
    'COMMIT;',
    '',
  ].join('\n');
  const tls = tlsEnvironment(owner.ssl);
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    PGPASSWORD: owner.password,
    PGAPPNAME: APPLICATION_NAME,
    PGCONNECT_TIMEOUT: String(
      Math.max(2, Math.ceil((owner.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS) / 1000)),
    ),
    ...tls.env,
  };
  const restore = spawn(
    options.pgRestore ?? 'pg_restore',
    [
      '--no-owner',
      '--no-acl',
      '--no-publications',
      '--no-subscriptions',
      '--no-security-labels',
      '--no-tablespaces',
      '--file=-',
    ],
    { env, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const psql = spawn(
    options.psql ?? 'psql',
    [
      `--host=${owner.host}`,
      `--port=${owner.port}`,
      `--username=${owner.user}`,
      `--dbname=${owner.database}`,
      '--no-password',
      '--no-psqlrc',
      '--quiet',
      '--set=ON_ERROR_STOP=1',
      '--file=-',
    ],
    { env, stdio: ['pipe', 'ignore', 'pipe'] },
  );
  const said = { restore: '', psql: '' };
  restore.stderr
    .setEncoding('utf8')
    .on('data', (c: string) => (said.restore = (said.restore + c).slice(0, 8192)));
  psql.stderr.setEncoding('utf8').on('data', (c: string) => (said.psql = (said.psql + c).slice(0, 8192)));
  const exited = (child: ChildProcess, name: string) =>
    new Promise<number | null>((resolve, reject) => {
      child.on('error', (error: NodeJS.ErrnoException) =>
        reject(
          new TenantImportError(
            error.code === 'ENOENT'
              ? `${name} was not found: install the PostgreSQL client`
              : `${name} could not be started: ${error.message}`,
          ),
        ),
      );
      child.on('close', (code) => resolve(code));
    });
  const restored = exited(restore, 'pg_restore');
  const ran = exited(psql, 'psql');
  restore.stdin.on('error', () => undefined);
  psql.stdin.on('error', () => undefined);
  dump.on('error', () => restore.kill('SIGTERM'));
  dump.pipe(restore.stdin);
  const input = Readable.from(
    (async function* () {
      yield prelude;
      for await (const chunk of restore.stdout) yield chunk as Buffer;
      // Only a whole dump commits: pg_restore failing leaves psql without the COMMIT.
      if ((await restored) === 0) yield epilogue;
    })(),
  );
  input.on('error', () => psql.kill('SIGTERM'));
  input.pipe(psql.stdin);
  const [restoreCode, psqlCode] = await Promise.all([restored, ran]).finally(() => tls.cleanup());
  if (restoreCode !== 0)
    throw new TenantImportError(
      `pg_restore of the dump of ${options.schema} failed (exit ${restoreCode}): ${scrub(said.restore.trim(), owner.password)}`,
    );
  if (psqlCode !== 0)
    throw new TenantImportError(
      `restoring the dump of ${options.schema} failed (psql exit ${psqlCode}): ${scrub(said.psql.trim(), owner.password)}`,
      // psql's 2: the connection failed or went bad; 3 is a statement of the script that failed.
      psqlCode === 2,
    );
  // psql ends the session at the end of its input: a transaction still open is rolled back.
  if (!(await tenantImported(owner, options.importId)))
    throw new TenantImportError(`the dump of ${options.schema} was not committed`);
  return { already: false, rows: {} };
}
