import { failpoint, quoteIdentifier } from '@silo/core';
import type { Client } from 'pg';
import { TENANT_SCHEMA_LEDGER } from './migrations/tenant-migrator';
import { ledgerTable, SCHEMA_LEDGERS_SCHEMA } from './placements/migration-target';
import { inLockedTransaction, pgClientConfig, withPgClient, type PgEndpoint } from './pg-endpoint';

/** What of a restored shared host's data one tenant keeps (see {@link trimRestoredHost}). */
export interface RestoredHostTrim {
  placement: 'schema' | 'pool';
  /** The tenant's schema on a schema host (kept, every other tenant schema dropped). */
  schema: string;
  /** The tenant whose rows a pool's tables keep. */
  tenantId: string;
}

const APPLICATION_NAME = 'silo-restore-trim';
const SYSTEM_SCHEMAS = ['public', 'information_schema'];

/**
 * Makes a database restored from a shared host hold one tenant's data and nobody else's: on a
 * schema host every other schema its owner can drop goes (CASCADE), system schemas and `public`
 * stay; in a pool every table of `app` with a `tenant_id` column keeps only the tenant's rows (its
 * row-level security lifted for the owner while it deletes, then put back as it was). Tables
 * without `tenant_id` (the migration ledger) stay whole. Run as the database's owner, in one
 * transaction; idempotent. Returns what it removed.
 */
export async function trimRestoredHost(
  owner: PgEndpoint,
  keep: RestoredHostTrim,
): Promise<{ droppedSchemas: string[]; deletedRows: Record<string, number> }> {
  const kept = keep.placement === 'schema' ? quoteIdentifier(keep.schema, 'tenant schema') : null;
  return withPgClient(pgClientConfig(owner, APPLICATION_NAME), (client) =>
    inLockedTransaction(client, `silo:restore-trim:${owner.database}`, async () => {
      const droppedSchemas: string[] = [];
      const deletedRows: Record<string, number> = {};
      if (kept) {
        const { rows } = await client.query<{ nspname: string }>(
          `SELECT nspname FROM pg_namespace
            WHERE nspname <> $1 AND nspname <> ALL($2) AND nspname NOT LIKE 'pg\\_%'
              AND pg_has_role(current_user, nspowner, 'USAGE')
            ORDER BY nspname`,
          [keep.schema, [...SYSTEM_SCHEMAS, SCHEMA_LEDGERS_SCHEMA]],
        );
        for (const { nspname } of rows) {
          await client.query(`DROP SCHEMA ${quoteIdentifier(nspname, 'schema')} CASCADE`);
          droppedSchemas.push(nspname);
        }
        // The ledgers' schema stays with the tenant's own ledger (its schema version); the others' go.
        const ledgers = await client.query<{ name: string }>(
          `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname <> $2`,
          [SCHEMA_LEDGERS_SCHEMA, keep.schema],
        );
        for (const { name } of ledgers.rows)
          await client.query(`DROP TABLE ${SCHEMA_LEDGERS_SCHEMA}.${quoteIdentifier(name, 'table')}`);
        return { droppedSchemas, deletedRows };
      }
      // Children before parents: a parent's rows go once no other tenant's rows point at them.
      for (const name of (await tenantTables(client, 'app', true)).reverse()) {
        const table = `app.${quoteIdentifier(name, 'table')}`;
        const { rows } = await client.query<{ forced: boolean }>(
          `SELECT relforcerowsecurity AS forced FROM pg_class WHERE oid = $1::regclass`,
          [table],
        );
        const forced = rows[0]?.forced === true;
        if (forced) await client.query(`ALTER TABLE ${table} NO FORCE ROW LEVEL SECURITY`);
        const deleted = await client.query(`DELETE FROM ${table} WHERE tenant_id IS DISTINCT FROM $1`, [
          keep.tenantId,
        ]);
        if (forced) await client.query(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`);
        deletedRows[name] = deleted.rowCount ?? 0;
      }
      return { droppedSchemas, deletedRows };
    }),
  );
}

/** One side of {@link swapTenantData}: a database, as its owner, and where the tenant's tables are. */
export interface SwapSide {
  owner: PgEndpoint;
}

export interface TenantDataSwap {
  placement: 'schema' | 'pool';
  /** The tenant's schema (a schema tenant's own, or `app` in a pool). */
  schema: string;
  tenantId: string;
  /** Names the swap: the live side records it as done in the same transaction. */
  swapId: string;
  /** The live host (the tenant served from it) and the restore copy (the tenant's data alone). */
  live: SwapSide;
  copy: SwapSide;
}

const STASH_SCHEMA = 'silo_restored';
/** The migration ledgers (this version's and the TypeORM table of earlier ones): a schema's, not the tenant's rows. */
const LEDGER_TABLES = [TENANT_SCHEMA_LEDGER, 'silo_schema_migrations'];

/** The newest version in the tenant's migration ledger (a pool's, or a schema tenant's own), or null without one. */
async function ledgerVersion(
  client: Client,
  placement: 'schema' | 'pool',
  schema: string,
): Promise<string | null> {
  const table = ledgerTable({ placement, schema }, TENANT_SCHEMA_LEDGER);
  const present = await client.query<{ present: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS present`, [
    table,
  ]);
  if (!present.rows[0]?.present) return null;
  const { rows } = await client.query<{ version: string }>(
    `SELECT version FROM ${table} ORDER BY length(version) DESC, version DESC LIMIT 1`,
  );
  return rows[0]?.version ?? null;
}
const SWAPS_SCHEMA = 'silo_restore';

/** The tenant's tables in `schema`, parents before children (foreign keys between them). */
async function tenantTables(client: Client, schema: string, pool: boolean): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relispartition = false
        AND ($2 = false OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
        AND c.relname <> ALL($3)
      ORDER BY c.relname`,
    [schema, pool, LEDGER_TABLES],
  );
  const names = rows.map((r) => r.name);
  const edges = await client.query<{ child: string; parent: string }>(
    `SELECT cc.relname AS child, pc.relname AS parent FROM pg_constraint k
       JOIN pg_class cc ON cc.oid = k.conrelid JOIN pg_class pc ON pc.oid = k.confrelid
       JOIN pg_namespace n ON n.oid = cc.relnamespace
      WHERE k.contype = 'f' AND n.nspname = $1 AND cc.oid <> pc.oid`,
    [schema],
  );
  const ordered: string[] = [];
  const visit = (name: string, path: Set<string>) => {
    if (ordered.includes(name) || path.has(name)) return;
    path.add(name);
    for (const e of edges.rows) if (e.child === name && names.includes(e.parent)) visit(e.parent, path);
    ordered.push(name);
  };
  for (const name of names) visit(name, new Set());
  return ordered;
}

async function rowsOf(client: Client, table: string, pool: boolean, tenantId: string): Promise<unknown[]> {
  const { rows } = await client.query<{ rows: unknown[] | null }>(
    `SELECT json_agg(t) AS rows FROM ${table} t${pool ? ' WHERE tenant_id = $1' : ''}`,
    pool ? [tenantId] : [],
  );
  return rows[0]?.rows ?? [];
}

async function replaceRows(
  client: Client,
  tables: string[],
  data: Map<string, unknown[]>,
  pool: boolean,
  tenantId: string,
): Promise<void> {
  for (const table of [...tables].reverse())
    await client.query(`DELETE FROM ${table}${pool ? ' WHERE tenant_id = $1' : ''}`, pool ? [tenantId] : []);
  for (const table of tables) {
    const rows = data.get(table) ?? [];
    if (rows.length === 0) continue;
    await client.query(
      `INSERT INTO ${table} SELECT * FROM json_populate_recordset(NULL::${table}, $1::json)`,
      [JSON.stringify(rows)],
    );
  }
}

/**
 * A shared tenant's restore in place: the tenant's rows (a pool's) or its schema's tables (a
 * schema host's) on the live host become the restored ones in the copy, and the copy takes what
 * the live host held, in three crash-safe phases:
 * 1. the copy's restored rows are stashed in its `silo_restored` schema (once);
 * 2. one transaction on the live host: the tenant's tables locked against writes (EXCLUSIVE: a
 *    pool's neighbours wait on the same tables for the swap's length), its rows read, the
 *    copy's own tables given them (a transaction of the copy's, committed first), the live
 *    rows replaced by the stash, and the swap recorded in `silo_restore.swaps`; a crash before
 *    its commit leaves the live host as it was and a re-run does the same again;
 * 3. the stash dropped.
 * Both sides must hold the same tables (the same schema version): rows move as JSON records of
 * the live table's type. Sequences keep their live values (ahead of the restored rows'). Returns
 * the rows put in place per table.
 */
export async function swapTenantData(spec: TenantDataSwap): Promise<Record<string, number>> {
  const pool = spec.placement === 'pool';
  const schema = quoteIdentifier(spec.schema, 'tenant schema');
  const qualified = (name: string) => `${schema}.${quoteIdentifier(name, 'table')}`;
  return withPgClient(pgClientConfig(spec.live.owner, APPLICATION_NAME), (live) =>
    withPgClient(pgClientConfig(spec.copy.owner, APPLICATION_NAME), async (copy) => {
      // Row-level security shows each side's owner the tenant's rows only (FORCE applies to owners).
      for (const side of [live, copy])
        await side.query(`SELECT set_config('app.tenant_id', $1, false)`, [spec.tenantId]);
      await live.query(`CREATE SCHEMA IF NOT EXISTS ${SWAPS_SCHEMA}`);
      await live.query(
        `CREATE TABLE IF NOT EXISTS ${SWAPS_SCHEMA}.swaps (swap_id text PRIMARY KEY, tenant_id uuid NOT NULL, done_at timestamptz NOT NULL DEFAULT now())`,
      );
      const done = await live.query(`SELECT 1 FROM ${SWAPS_SCHEMA}.swaps WHERE swap_id = $1`, [spec.swapId]);
      const tables = await tenantTables(copy, spec.schema, pool);
      const liveTables = await tenantTables(live, spec.schema, pool);
      if (!done.rowCount) {
        const [then, now] = [
          await ledgerVersion(copy, spec.placement, spec.schema),
          await ledgerVersion(live, spec.placement, spec.schema),
        ];
        if (then !== now || tables.join() !== liveTables.join())
          throw new RestoreSwapRefused(
            `the restored data is at schema version ${then ?? 'none'} (tables ${tables.join(', ') || 'none'}) and the live tenant at ${now ?? 'none'} (${liveTables.join(', ') || 'none'}): a restore in place of a shared tenant needs one version; restore as a copy instead`,
          );
      }
      const placed: Record<string, number> = {};
      if (!done.rowCount) {
        // 1. The restored rows, stashed once (a re-run finds them there).
        const stash = quoteIdentifier(STASH_SCHEMA, 'schema');
        const stashed = await copy.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [STASH_SCHEMA]);
        if (!stashed.rowCount) {
          await copy.query('BEGIN');
          await copy.query(`CREATE SCHEMA ${stash}`);
          for (const t of tables)
            await copy.query(
              `CREATE TABLE ${stash}.${quoteIdentifier(t, 'table')} AS SELECT * FROM ${qualified(t)}${pool ? ' WHERE tenant_id = $1' : ''}`,
              pool ? [spec.tenantId] : [],
            );
          await copy.query('COMMIT');
        }
        const restored = new Map<string, unknown[]>();
        for (const t of tables)
          restored.set(
            qualified(t),
            await rowsOf(copy, `${stash}.${quoteIdentifier(t, 'table')}`, false, spec.tenantId),
          );
        // 2. The live side, in one transaction; the copy takes the live rows just before its commit.
        await live.query('BEGIN');
        try {
          await live.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [
            `silo:restore-swap:${spec.tenantId}`,
          ]);
          for (const t of tables) await live.query(`LOCK TABLE ${qualified(t)} IN EXCLUSIVE MODE`);
          const held = new Map<string, unknown[]>();
          for (const t of tables)
            held.set(qualified(t), await rowsOf(live, qualified(t), pool, spec.tenantId));
          await copy.query('BEGIN');
          try {
            await replaceRows(copy, tables.map(qualified), held, pool, spec.tenantId);
            await copy.query('COMMIT');
            // The copy holds the live rows, the live host has not changed yet.
            failpoint('restore:swap-copied');
          } catch (error) {
            await copy.query('ROLLBACK').catch(() => undefined);
            throw error;
          }
          await replaceRows(live, tables.map(qualified), restored, pool, spec.tenantId);
          await live.query(`INSERT INTO ${SWAPS_SCHEMA}.swaps (swap_id, tenant_id) VALUES ($1, $2)`, [
            spec.swapId,
            spec.tenantId,
          ]);
          await live.query('COMMIT');
        } catch (error) {
          await live.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
        for (const [t, rows] of restored) placed[t] = rows.length;
      }
      // 3. The stash goes.
      // Best effort: the swap is made; a stash left behind is the copy's, readable by nobody but its owner.
      await copy
        .query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(STASH_SCHEMA, 'schema')} CASCADE`)
        .catch(() => undefined);
      return placed;
    }),
  );
}

/**
 * Whether the live side of {@link swapTenantData} committed the swap `swapId` (its record in
 * `silo_restore.swaps`, written in the transaction that swapped the rows). Once it did, the copy
 * holds the tenant's rows as they were before: the swap is never undone, and the copy never
 * removed for it.
 */
export async function tenantSwapRecorded(live: PgEndpoint, swapId: string): Promise<boolean> {
  return withPgClient(pgClientConfig(live, APPLICATION_NAME), async (client) => {
    const { rows } = await client.query<{ present: boolean }>(
      `SELECT to_regclass('${SWAPS_SCHEMA}.swaps') IS NOT NULL AS present`,
    );
    if (!rows[0]?.present) return false;
    const found = await client.query(`SELECT 1 FROM ${SWAPS_SCHEMA}.swaps WHERE swap_id = $1`, [swapId]);
    return Boolean(found.rowCount);
  });
}

/** A swap that cannot be made as asked (the two sides at different schema versions). */
export class RestoreSwapRefused extends Error {
  override readonly name = 'RestoreSwapRefused';
}
