import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { migrateControlPlane } from '../../libs/control-plane-db/src/control-plane-migrator';
import { freePort } from './free-port';
import { assertServicesAnswer } from './service-probes';
import { startTestClusters } from './test-clusters';
import { databaseUrl, testServices } from './test-services';

const run = promisify(execFile);
const EMULATOR_SCRIPT = resolve(__dirname, '../../scripts/aws-emulator.sh');

/**
 * Once per jest run (shared by the integration and e2e projects): a fresh control-plane
 * database, migrated, the local instance backend's clusters (test-clusters.ts) and an AWS
 * emulator on a free port. State goes to the workers through
 * process.env; the teardown drops and stops what this created.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.SILO_TEST_DATABASE_URL) return;

  await assertServicesAnswer(
    testServices.postgresAdminUrl,
    testServices.redisUrl,
    "Start it, or run the suite with 'npm test', which starts the machine's own services.",
  );

  // Every Redis key this run makes lives under this root; the teardown deletes them.
  process.env.SILO_TEST_REDIS_ROOT = `silo-test-${randomBytes(4).toString('hex')}`;

  const database = `silo_test_${randomBytes(5).toString('hex')}`;
  const url = databaseUrl(testServices.postgresAdminUrl, database);
  await migrateControlPlane({ url, createDatabase: true });
  process.env.SILO_TEST_DATABASE = database;
  process.env.SILO_TEST_DATABASE_URL = url;

  // The local instance backend's own clusters: SCRAM for every login, logical replication, WAL archived.
  if (!process.env.SILO_TEST_INSTANCE_ADMIN_URL) await startTestClusters();

  if (!process.env.SILO_TEST_AWS_ENDPOINT) {
    const port = await freePort();
    await run('bash', [EMULATOR_SCRIPT, 'start', String(port)], { timeout: 300_000 });
    process.env.SILO_TEST_EMULATOR_PORT = String(port);
    process.env.SILO_TEST_AWS_ENDPOINT = `http://127.0.0.1:${port}`;
  }
}
