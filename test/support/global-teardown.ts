import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import IORedis from 'ioredis';
import { stopTestClusters } from './test-clusters';
import { dropDatabase, dropOrphanedDataPlaneRoles } from './test-databases';
import { testServices } from './test-services';

const run = promisify(execFile);

export default async function globalTeardown(): Promise<void> {
  const database = process.env.SILO_TEST_DATABASE;
  if (database) {
    delete process.env.SILO_TEST_DATABASE;
    delete process.env.SILO_TEST_DATABASE_URL;
    await dropDatabase(database);
  }
  await dropOrphanedDataPlaneRoles();
  stopTestClusters();
  const root = process.env.SILO_TEST_REDIS_ROOT;
  if (root) {
    delete process.env.SILO_TEST_REDIS_ROOT;
    await deleteKeys(`${root}-*`);
  }
  const port = process.env.SILO_TEST_EMULATOR_PORT;
  if (port) {
    delete process.env.SILO_TEST_EMULATOR_PORT;
    delete process.env.SILO_TEST_AWS_ENDPOINT;
    await run('bash', [resolve(__dirname, '../../scripts/aws-emulator.sh'), 'stop', port]);
  }
}

async function deleteKeys(pattern: string): Promise<void> {
  const redis = new IORedis(testServices.redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
