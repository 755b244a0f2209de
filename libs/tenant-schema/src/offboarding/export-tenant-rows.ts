import { APP_SCHEMA, quoteIdentifier } from '@silo/core';
import { Readable } from 'node:stream';
import { Client } from 'pg';
import { pgClientConfig, type PgEndpoint } from '../pg-endpoint';
import { TENANT_ID_COLUMN } from '../placements/tenant-isolation';
import { assertTenantId, beginAsTenant, listTenantTables, type TenantTable } from './tenant-tables';

/** The first line of a rows export names its format; a reader checks it. */
export const TENANT_ROWS_FORMAT = 'silo-tenant-rows/1';

/** One tenant's rows of each table of a schema, as {@link exportTenantRows} writes them. */
export interface TenantRowsExportOptions {
  /** The schema of the shared tables. Default `app` (a pool database's). */
  schema?: string;
  tenantId: string;
  /** Rows read per round trip, and at most per `csv` record. Default 1000. */
  fetchRows?: number;
  /** lock_timeout of the export's transaction. Default 5000. */
  lockTimeoutMs?: number;
  /** statement_timeout of each read. Default 300000. */
  statementTimeoutMs?: number;
  /** Default: now. Written into the header. */
  exportedAt?: Date;
}

/** The records of a rows export, one JSON object per line. */
export type TenantRowsRecord =
  | { format: typeof TENANT_ROWS_FORMAT; schema: string; tenantId: string; exportedAt: string }
  | { table: string; columns: string[]; csv: string }
  | { end: true; rows: Record<string, number> };

const APPLICATION_NAME = 'silo-tenant-export';

/**
 * One tenant's rows of every table of `schema` that has `tenant_id`, streamed as one archive of
 * newline-delimited JSON (`.ndjson`), read in one REPEATABLE READ, READ ONLY transaction (one
 * snapshot of every table) with `app.tenant_id` set to the tenant and each read filtered on
 * `tenant_id` too:
 * - line 1: `{"format":"silo-tenant-rows/1","schema":…,"tenantId":…,"exportedAt":…}`;
 * - then per table, parents before the tables whose foreign keys reference them, one or more
 *   `{"table":…,"columns":[…],"csv":…}` records: `csv` holds whole rows in PostgreSQL's CSV
 *   format (every value quoted, NULL unquoted and empty, `\n` after each row), so the table's
 *   records' `csv` joined in order is what `COPY <table> (<columns>) TO STDOUT WITH (FORMAT csv)`
 *   writes, and restores with `COPY <schema>.<table> (<columns>) FROM STDIN WITH (FORMAT csv)`
 *   (a table without rows has one record with empty `csv`);
 * - last: `{"end":true,"rows":{<table>: <count>}}`: an export without it is cut short.
 * The stream fails (and the connection closes) if a read fails; nothing is held beyond one batch.
 */
export function exportTenantRows(owner: PgEndpoint, options: TenantRowsExportOptions): Readable {
  const schema = options.schema ?? APP_SCHEMA;
  quoteIdentifier(schema, 'tenant schema');
  assertTenantId(options.tenantId);
  const fetchRows = options.fetchRows ?? 1000;
  if (!Number.isInteger(fetchRows) || fetchRows < 1) throw new Error('fetchRows must be a positive integer');
  return Readable.from(exportRecords(owner, { ...options, schema, fetchRows }), { objectMode: false });
}

async function* exportRecords(
  owner: PgEndpoint,
  options: TenantRowsExportOptions & { schema: string; fetchRows: number },
): AsyncGenerator<string> {
  const line = (record: TenantRowsRecord) => `${JSON.stringify(record)}\n`;
  // Not withPgClient: a generator cannot yield from inside its callback. The finally block runs
  // when the reader stops early too (the stream is destroyed), so the client always closes.
  const client = new Client(pgClientConfig(owner, APPLICATION_NAME));
  client.on('error', () => undefined);
  try {
    await client.connect();
    await beginAsTenant(client, options.tenantId, {
      lockTimeoutMs: options.lockTimeoutMs ?? 5000,
      statementTimeoutMs: options.statementTimeoutMs ?? 300_000,
      readOnly: true,
    });
    yield line({
      format: TENANT_ROWS_FORMAT,
      schema: options.schema,
      tenantId: options.tenantId,
      exportedAt: (options.exportedAt ?? new Date()).toISOString(),
    });
    const counts: Record<string, number> = {};
    for (const table of await listTenantTables(client, options.schema)) {
      counts[table.name] = 0;
      for await (const csv of tableCsv(client, table, options.tenantId, options.fetchRows)) {
        counts[table.name] += csv.rows;
        yield line({ table: table.name, columns: table.columns, csv: csv.text });
      }
    }
    await client.query('COMMIT');
    yield line({ end: true, rows: counts });
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The tenant's rows of `table` in batches of CSV text, through a cursor. Every value is read as
 * PostgreSQL's text output (no type parsing), which COPY FROM reads back as it was.
 */
async function* tableCsv(
  client: Client,
  table: TenantTable,
  tenantId: string,
  fetchRows: number,
): AsyncGenerator<{ text: string; rows: number }> {
  const columns = table.columns.map((column) => quoteIdentifier(column, 'column name')).join(', ');
  await client.query(
    `DECLARE silo_export NO SCROLL CURSOR FOR SELECT ${columns} FROM ${table.qualified}
      WHERE ${TENANT_ID_COLUMN} = ${client.escapeLiteral(tenantId)}`,
  );
  let emitted = false;
  for (;;) {
    const result = await client.query<(string | null)[]>({
      text: `FETCH ${fetchRows} FROM silo_export`,
      rowMode: 'array',
      types: { getTypeParser: () => (value: string) => value },
    });
    if (result.rows.length === 0 && emitted) break;
    emitted = true;
    yield { text: result.rows.map(csvRow).join(''), rows: result.rows.length };
    if (result.rows.length < fetchRows) break;
  }
  await client.query('CLOSE silo_export');
}

/** One row as COPY's CSV format writes it, with every non-NULL value quoted (NULL: nothing). */
function csvRow(values: (string | null)[]): string {
  return `${values.map((value) => (value === null ? '' : `"${value.replace(/"/g, '""')}"`)).join(',')}\n`;
}
