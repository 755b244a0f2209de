import { Client } from 'pg';
import { migrateControlPlane } from '../../libs/control-plane-db/src/control-plane-migrator';
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

export async function dropDatabase(name: string): Promise<void> {
  const client = new Client({ connectionString: testServices.postgresAdminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
