import { Client } from 'pg';
import { migrateControlPlane } from '../../libs/control-plane-db/src/control-plane-migrator';
import { dataPlaneRole } from '../../libs/core/src/provisioning/control-plane-names';
import { quoteIdentifier } from '../../libs/core/src/sql/sql-identifier';
import { uniqueToken } from './test-config';
import { databaseUrl, testServices } from './test-services';

/**
 * A migrated control-plane database of one test file's own, for tests that count rows exactly
 * whatever other files write at the same time. Drop it with {@link dropDatabase}.
 */
export async function createOwnDatabase(label: string): Promise<{ name: string; url: string }> {
  const name = `silo_test_${label}_${uniqueToken(4)}`;
  const url = databaseUrl(testServices.postgresAdminUrl, name);
  await migrateControlPlane({ url, createDatabase: true });
  return { name, url };
}

/** Drops a control-plane database and its data-plane role (a role is the server's, not the database's). */
export async function dropDatabase(name: string): Promise<void> {
  const client = new Client({ connectionString: testServices.postgresAdminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`);
    await client.query(`DROP ROLE IF EXISTS ${quoteIdentifier(dataPlaneRole(name))}`);
  } finally {
    await client.end();
  }
}

/**
 * Drops the data-plane roles (`<database>_data_plane`) of test databases that are gone: tests that
 * drop their databases themselves leave their roles behind.
 */
export async function dropOrphanedDataPlaneRoles(): Promise<void> {
  const client = new Client({ connectionString: testServices.postgresAdminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ rolname: string }>(
      `SELECT r.rolname FROM pg_roles r
        WHERE r.rolname LIKE 'silo\\_%\\_data\\_plane'
          AND NOT EXISTS (SELECT FROM pg_database d WHERE d.datname || '_data_plane' = r.rolname)`,
    );
    for (const { rolname } of rows) {
      await client.query(`DROP ROLE IF EXISTS ${quoteIdentifier(rolname)}`).catch(() => undefined);
    }
  } finally {
    await client.end();
  }
}
