import { DATA_PLANE_SCHEMA, quoteIdentifier, TENANT_DIRECTORY_VIEW } from '@silo/core';
import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The data plane's view of the restore copies (read by @silo/tenant-router's restore-copy leases). */
export const RESTORE_COPY_DIRECTORY_VIEW = 'tenant_restore_copies';

const schema = quoteIdentifier(DATA_PLANE_SCHEMA, 'data-plane schema');
const view = `${schema}.${quoteIdentifier(RESTORE_COPY_DIRECTORY_VIEW, 'restore copy directory view')}`;

/**
 * Reading a restore copy through the router: the view `data_plane.tenant_restore_copies` shows
 * the data plane what it needs to lease a copy (tenant_id, run, status, region, reader_secret_name,
 * expires_at): never a password, the master secret's name, the instance or its endpoint (the
 * reader secret holds the connection). It is granted to whoever may read the tenant directory
 * (the database's data-plane role), and like that view reads the table with its owner's rights.
 */
export class RestoreCopyDirectory1795435200000 implements MigrationInterface {
  name = 'RestoreCopyDirectory1795435200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE VIEW ${view} AS
        SELECT c.tenant_id, c.run, c.status, c.region, c.reader_secret_name, c.expires_at
          FROM public.tenant_restore_copies c`);
    await q.query(
      `COMMENT ON VIEW ${view} IS 'The restore copies the data plane (@silo/tenant-router) may lease, read as the tenant directory is'`,
    );
    // The tenant directory's readers, as the data-plane directory migration granted it (PUBLIC,
    // were it granted by hand, is not carried over).
    const grantees = (await q.query(
      `SELECT DISTINCT grantee FROM information_schema.role_table_grants
        WHERE table_schema = $1 AND table_name = $2 AND privilege_type = 'SELECT'
          AND grantee <> current_user AND grantee <> 'PUBLIC'`,
      [DATA_PLANE_SCHEMA, TENANT_DIRECTORY_VIEW],
    )) as Array<{ grantee: string }>;
    for (const { grantee } of grantees)
      await q.query(`GRANT SELECT ON ${view} TO ${quoteIdentifier(grantee, 'role')}`);
  }

  async down(q: QueryRunner): Promise<void> {
    // Its grants go with it.
    await q.query(`DROP VIEW ${view}`);
  }
}
