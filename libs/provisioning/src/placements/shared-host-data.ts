import { APP_SCHEMA, isTenantId, quoteIdentifier } from '@silo/core';
import {
  checkedTarget,
  SCHEMA_LEDGERS_SCHEMA,
  TENANT_ID_COLUMN,
  TENANT_SETTING,
  type PgEndpoint,
} from '@silo/tenant-schema';
import { Client } from 'pg';

const APPLICATION_NAME = 'silo-tenant-removal';

/**
 * As the host's owner: drops a schema tenant's schema (its tables with it) and its migration
 * ledger. Idempotent. The schema must be a schema tenant's (never `app`, `public`, the ledgers'
 * or a catalogue schema), which {@link checkedTarget} enforces before any SQL runs.
 */
export async function dropTenantSchemaObjects(owner: PgEndpoint, schema: string): Promise<void> {
  const { quotedSchema } = checkedTarget({ placement: 'schema', schema });
  await withClient(owner, async (client) => {
    await client.query('BEGIN');
    try {
      await client.query(`DROP SCHEMA IF EXISTS ${quotedSchema} CASCADE`);
      await client.query(`DROP TABLE IF EXISTS ${quoteIdentifier(SCHEMA_LEDGERS_SCHEMA)}.${quotedSchema}`);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  });
}

export interface TenantRowsDeletion {
  /** Rows deleted by this call. */
  deleted: number;
  /** True when no row of the tenant is left in any tenant table of the pool. */
  done: boolean;
}

/**
 * As the pool database's owner: deletes one tenant's rows from every tenant table (those with
 * `tenant_id`) of the pool's `app` schema, referencing tables before the tables they reference,
 * in batches of `batchSize` rows, each batch its own short transaction under `lockTimeoutMs`, so
 * no lock is held for long and other tenants of the host keep working. Each transaction sets
 * `app.tenant_id` to the tenant, which the forced row-level security holds the owner to as well.
 * Stops after `maxBatches` batches (`done` false: call again). Idempotent.
 */
export async function deleteTenantRowsInBatches(
  owner: PgEndpoint,
  spec: { tenantId: string; batchSize: number; maxBatches: number; lockTimeoutMs: number },
): Promise<TenantRowsDeletion> {
  if (!isTenantId(spec.tenantId)) throw new Error(`${JSON.stringify(spec.tenantId)} is not a tenant id`);
  const schema = quoteIdentifier(APP_SCHEMA);
  const batchSize = positiveInteger(spec.batchSize, 'batchSize');
  const lockTimeout = `${positiveInteger(spec.lockTimeoutMs, 'lockTimeoutMs')}ms`;
  return withClient(owner, async (client) => {
    const tables = await tenantTablesChildrenFirst(client);
    let deleted = 0;
    let batches = 0;
    for (const table of tables) {
      const qualified = `${schema}.${quoteIdentifier(table, 'tenant table')}`;
      const tenantColumn = quoteIdentifier(TENANT_ID_COLUMN);
      for (;;) {
        if (batches >= spec.maxBatches) return { deleted, done: false };
        batches++;
        await client.query('BEGIN');
        try {
          await client.query(`SELECT set_config('lock_timeout', $1, true), set_config($2, $3, true)`, [
            lockTimeout,
            TENANT_SETTING,
            spec.tenantId,
          ]);
          const result = await client.query(
            `DELETE FROM ${qualified} WHERE ${tenantColumn} = $1 AND ctid = ANY(ARRAY(
               SELECT ctid FROM ${qualified} WHERE ${tenantColumn} = $1 LIMIT ${batchSize}))`,
            [spec.tenantId],
          );
          await client.query('COMMIT');
          deleted += result.rowCount ?? 0;
          if ((result.rowCount ?? 0) < batchSize) break;
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
      }
    }
    return { deleted, done: true };
  });
}

/**
 * The pool's tenant tables (ordinary and partitioned tables of `app` with a `tenant_id` column,
 * partitions left to their parent), ordered so that a table referencing another by a foreign key
 * comes before it. A reference cycle keeps the tables of the cycle in name order.
 */
async function tenantTablesChildrenFirst(client: Client): Promise<string[]> {
  const { rows: tables } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $2 AND NOT a.attisdropped
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      ORDER BY c.relname`,
    [APP_SCHEMA, TENANT_ID_COLUMN],
  );
  const { rows: references } = await client.query<{ child: string; parent: string }>(
    `SELECT cc.relname AS child, pc.relname AS parent FROM pg_constraint k
       JOIN pg_class cc ON cc.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace
       JOIN pg_class pc ON pc.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
      WHERE k.contype = 'f' AND cn.nspname = $1 AND pn.nspname = $1 AND k.conrelid <> k.confrelid`,
    [APP_SCHEMA],
  );
  return childrenFirst(
    tables.map((t) => t.name),
    references,
  );
}

/** Tables ordered so that every referencing table precedes the tables it references. */
export function childrenFirst(
  tables: string[],
  references: Array<{ child: string; parent: string }>,
): string[] {
  const known = new Set(tables);
  const referencedBy = new Map<string, Set<string>>(tables.map((t) => [t, new Set()]));
  for (const { child, parent } of references)
    if (known.has(child) && known.has(parent)) referencedBy.get(parent)!.add(child);
  const ordered: string[] = [];
  const placed = new Set<string>();
  let left = [...tables];
  while (left.length) {
    // A table goes once every table that references it has gone; a cycle takes its first table.
    const ready = left.filter((t) => [...referencedBy.get(t)!].every((c) => placed.has(c) || c === t));
    const next = ready.length ? ready : [left[0]];
    for (const t of next) {
      ordered.push(t);
      placed.add(t);
    }
    left = left.filter((t) => !placed.has(t));
  }
  return ordered;
}

function positiveInteger(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${what} must be a positive integer`);
  return value;
}

async function withClient<T>(owner: PgEndpoint, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({
    host: owner.host,
    port: owner.port,
    database: owner.database,
    user: owner.user,
    password: owner.password,
    ssl: owner.ssl ?? false,
    connectionTimeoutMillis: owner.connectTimeoutMs ?? 5000,
    application_name: APPLICATION_NAME,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
