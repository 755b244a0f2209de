import { quoteIdentifier } from '@silo/core';
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
          [keep.schema, SYSTEM_SCHEMAS],
        );
        for (const { nspname } of rows) {
          await client.query(`DROP SCHEMA ${quoteIdentifier(nspname, 'schema')} CASCADE`);
          droppedSchemas.push(nspname);
        }
        return { droppedSchemas, deletedRows };
      }
      const { rows } = await client.query<{ name: string; forced: boolean }>(
        `SELECT c.relname AS name, c.relforcerowsecurity AS forced FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'app' AND c.relkind IN ('r', 'p')
            AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
          ORDER BY c.relname`,
      );
      for (const { name, forced } of rows) {
        const table = `app.${quoteIdentifier(name, 'table')}`;
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
