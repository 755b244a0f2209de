import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { loadConfig, type SiloConfig } from '@silo/config';
import { testServices } from '../../test/support/test-services';
import { databaseUrl, type BenchNames } from '../provisioning/bench-environment';

/** The migration set every contender applies: 0001 at the start, 0002 and 0003 to apply. */
export const FLEET_MIGRATIONS = join('test', 'fixtures', 'tenant-migrations', 'fleet');
export const FROM_VERSION = '0001';
export const TARGET_VERSION = '0003';

/**
 * The admin URL of the PostgreSQL the tenant databases live on: the machine's (SILO_TEST_POSTGRES_URL),
 * for the control-plane database and the fleet alike (createFleet of libs/fleet/test/rollout-fleet.ts
 * is given it), so that one server's activity is sampled. A rollout's speed does not depend on what
 * the local backend's own clusters add (SCRAM logins, logical replication, WAL archiving).
 */
export const POSTGRES_ADMIN_URL = testServices.postgresAdminUrl;

/** Names of everything one run creates; random, so runs never collide. */
export function rolloutBenchNames(): BenchNames {
  return {
    token: randomBytes(3).toString('hex'),
    // `r`: told apart from the provisioning bench's `b` prefixes when something is left behind.
    resourcePrefix: `r${randomBytes(3).toString('hex').slice(0, 5)}`,
    queuePrefix: `bench-${randomBytes(4).toString('hex')}`,
    database: `silo_bench_${randomBytes(5).toString('hex')}`,
  };
}

/** The worker's configuration: validated by the same schema as every Silo process. */
export function rolloutBenchConfig(options: {
  names: BenchNames;
  root: string;
  redisUrl: string;
  emulatorPort: number;
  concurrency: number;
}): SiloConfig {
  const { names, concurrency } = options;
  return loadConfig({
    envFile: false,
    env: {
      NODE_ENV: 'production',
      LOG_LEVEL: 'silent',
      LOG_FORMAT: 'json',
      DATABASE_URL: databaseUrl(POSTGRES_ADMIN_URL, names.database),
      // Each pass holds one connection for the tenant lock and takes another for its queries; the relay one more.
      DATABASE_POOL_MAX: String(Math.max(10, 2 * concurrency + 2)),
      REDIS_URL: options.redisUrl,
      QUEUE_PREFIX: names.queuePrefix,
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL: `http://127.0.0.1:${options.emulatorPort}`,
      AWS_EMULATOR: 'true',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      SILO_RESOURCE_PREFIX: names.resourcePrefix,
      SILO_ENVIRONMENT: 'bench',
      LOCAL_INSTANCE_ADMIN_URL: POSTGRES_ADMIN_URL,
      TENANT_MIGRATIONS_DIR: join(options.root, FLEET_MIGRATIONS),
      WORKER_CONCURRENCY: String(concurrency),
      RETRY_BASE_DELAY_MS: '50',
      RETRY_MAX_DELAY_MS: '200',
      OUTBOX_POLL_MS: '50',
      SHUTDOWN_GRACE_MS: '10000',
      AUTH_JWT_SECRET: randomBytes(32).toString('base64url'),
    },
  });
}
