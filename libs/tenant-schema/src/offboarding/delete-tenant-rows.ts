import { APP_SCHEMA, quoteIdentifier } from '@silo/core';
import type { Client } from 'pg';
import { pgClientConfig, sqlState, withPgClient, type PgEndpoint } from '../pg-endpoint';
import { TENANT_ID_COLUMN } from '../placements/tenant-isolation';
import { assertTenantId, beginAsTenant, listTenantTables, type TenantTable } from './tenant-tables';

/** One tenant's rows in the shared tables of a pool database. */
export interface DeleteTenantRowsOptions {
  /** The schema of the shared tables. Default `app`. */
  schema?: string;
  tenantId: string;
  /** Rows deleted per batch (per transaction). Default 1000. */
  batchSize?: number;
  /** lock_timeout of each batch. Default 2000. */
  lockTimeoutMs?: number;
  /** statement_timeout of each batch. Default 30000. */
  statementTimeoutMs?: number;
}

/** What {@link deleteTenantRows} deleted. */
export interface DeletedTenantRows {
  /** Rows deleted per table (every tenant table of the schema, 0 where it had none left). */
  rows: Record<string, number>;
  /** Transactions that deleted rows. */
  batches: number;
}

const APPLICATION_NAME = 'silo-tenant-offboarding';
const FOREIGN_KEY_VIOLATION = '23503';

/**
 * As the host's owner: deletes one tenant's rows from every table of `schema` that has
 * `tenant_id`, table by table and `batchSize` rows at a time, each batch its own short
 * transaction with `app.tenant_id` set to the tenant and a lock_timeout, so no lock is held
 * longer than one batch and other tenants' requests go on. Tables that reference others go
 * first; a table whose rows are still referenced (a cycle of foreign keys) is set aside and
 * tried again after the others, and the run fails only when a whole round deletes nothing.
 * Idempotent: a re-run after a crash deletes what is left (and reports 0 where nothing was).
 * Rows of other tenants are never touched: each delete is filtered on `tenant_id` and held by the
 * tenant's row-level security.
 */
export async function deleteTenantRows(
  owner: PgEndpoint,
  options: DeleteTenantRowsOptions,
): Promise<DeletedTenantRows> {
  const schema = options.schema ?? APP_SCHEMA;
  quoteIdentifier(schema, 'tenant schema');
  assertTenantId(options.tenantId);
  const batchSize = options.batchSize ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error('batchSize must be a positive integer');
  const timeouts = {
    lockTimeoutMs: options.lockTimeoutMs ?? 2000,
    statementTimeoutMs: options.statementTimeoutMs ?? 30_000,
  };

  return withPgClient(pgClientConfig(owner, APPLICATION_NAME), async (client) => {
    const tables = await listTenantTables(client, schema);
    const result: DeletedTenantRows = {
      rows: Object.fromEntries(tables.map((t) => [t.name, 0])),
      batches: 0,
    };
    // Children (tables that reference others) first.
    let pending = [...tables].reverse();
    while (pending.length > 0) {
      const blocked: TenantTable[] = [];
      let progressed = false;
      for (const table of pending) {
        for (;;) {
          let deleted: number;
          try {
            deleted = await deleteBatch(client, table, options.tenantId, batchSize, timeouts);
          } catch (error) {
            if (sqlState(error) !== FOREIGN_KEY_VIOLATION) throw error;
            blocked.push(table);
            break;
          }
          if (deleted > 0) {
            result.rows[table.name] += deleted;
            result.batches += 1;
            progressed = true;
          }
          if (deleted < batchSize) break;
        }
      }
      if (blocked.length > 0 && !progressed)
        throw new Error(
          `the tenant's rows of ${blocked.map((t) => `${schema}.${t.name}`).join(', ')} are still referenced by rows that cannot be deleted first: nothing more was deleted`,
        );
      pending = blocked;
    }
    return result;
  });
}

/** One batch in its own transaction: the number of rows it deleted. */
async function deleteBatch(
  client: Client,
  table: TenantTable,
  tenantId: string,
  batchSize: number,
  timeouts: { lockTimeoutMs: number; statementTimeoutMs: number },
): Promise<number> {
  await beginAsTenant(client, tenantId, timeouts);
  try {
    // (tableoid, ctid): a ctid alone is not unique across a partitioned table's partitions.
    const deleted = await client.query(
      `DELETE FROM ${table.qualified} WHERE ${TENANT_ID_COLUMN} = $1 AND (tableoid, ctid) IN (
         SELECT tableoid, ctid FROM ${table.qualified} WHERE ${TENANT_ID_COLUMN} = $1 LIMIT ${batchSize})`,
      [tenantId],
    );
    await client.query('COMMIT');
    return deleted.rowCount ?? 0;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
