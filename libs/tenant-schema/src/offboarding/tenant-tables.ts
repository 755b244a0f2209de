import { isTenantId, quoteIdentifier } from '@silo/core';
import type { Client } from 'pg';
import { TENANT_ID_COLUMN, TENANT_SETTING } from '../placements/tenant-isolation';

/** A table of a schema that carries `tenant_id`, as offboarding reads and deletes it. */
export interface TenantTable {
  name: string;
  /** `"schema"."table"`, quoted. */
  qualified: string;
  /** Its stored columns in column order (generated columns left out: COPY FROM refuses them). */
  columns: string[];
  /** The other tenant tables of the schema its foreign keys point at (itself left out). */
  references: string[];
}

/**
 * The tables of `schema` that have a `tenant_id` column (partitioned tables as one table, their
 * partitions not again), parents before the tables that reference them (by name where neither
 * references the other, and in name order within a cycle of foreign keys).
 */
export async function listTenantTables(client: Client, schema: string): Promise<TenantTable[]> {
  const quotedSchema = quoteIdentifier(schema, 'tenant schema');
  const { rows } = await client.query<{ name: string; columns: string[]; references: string[] | null }>(
    `SELECT c.relname AS name,
            (SELECT array_agg(col.attname::text ORDER BY col.attnum) FROM pg_attribute col
              WHERE col.attrelid = c.oid AND col.attnum > 0 AND NOT col.attisdropped AND col.attgenerated = '') AS columns,
            (SELECT array_agg(DISTINCT p.relname::text) FROM pg_constraint f JOIN pg_class p ON p.oid = f.confrelid
              WHERE f.conrelid = c.oid AND f.contype = 'f' AND f.confrelid <> c.oid
                AND p.relnamespace = c.relnamespace) AS "references"
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      ORDER BY c.relname`,
    [schema, TENANT_ID_COLUMN],
  );
  const tables = rows.map((row) => ({
    name: row.name,
    qualified: `${quotedSchema}.${quoteIdentifier(row.name, 'table name')}`,
    columns: row.columns,
    references: row.references ?? [],
  }));
  const names = new Set(tables.map((t) => t.name));
  for (const table of tables) table.references = table.references.filter((name) => names.has(name));
  return parentsFirst(tables);
}

/** Tables ordered so that each comes after every table it references (a cycle is broken in name order). */
export function parentsFirst(tables: TenantTable[]): TenantTable[] {
  const ordered: TenantTable[] = [];
  const placed = new Set<string>();
  const pending = [...tables];
  while (pending.length > 0) {
    const ready = pending.findIndex((t) => t.references.every((name) => placed.has(name)));
    // No table is ready: a cycle of foreign keys. Take the first; deleting retries around it.
    const [next] = pending.splice(ready === -1 ? 0 : ready, 1);
    ordered.push(next);
    placed.add(next.name);
  }
  return ordered;
}

/**
 * In the caller's transaction: makes `tenantId` the current tenant until it ends (the owner
 * is held by forced row-level security too), with `lockTimeoutMs` as its lock_timeout.
 */
export async function beginAsTenant(
  client: Client,
  tenantId: string,
  options: { lockTimeoutMs: number; statementTimeoutMs: number; readOnly?: boolean },
): Promise<void> {
  await client.query(
    options.readOnly
      ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY'
      : 'BEGIN ISOLATION LEVEL READ COMMITTED',
  );
  await client.query(
    `SELECT set_config($1, $2, true), set_config('lock_timeout', $3, true), set_config('statement_timeout', $4, true)`,
    [TENANT_SETTING, tenantId, `${options.lockTimeoutMs}ms`, `${options.statementTimeoutMs}ms`],
  );
}

/** Throws unless `tenantId` is a tenant id. */
export function assertTenantId(tenantId: string): void {
  if (!isTenantId(tenantId)) throw new Error(`${JSON.stringify(tenantId)} is not a tenant id`);
}
