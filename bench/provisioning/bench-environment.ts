import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { loadConfig, type SiloConfig } from '@silo/config';
import { migrateControlPlane } from '@silo/control-plane-db';
import { assertServicesAnswer as probeServices } from '../../test/support/service-probes';
import { databaseUrl } from '../../test/support/test-services';

const run = promisify(execFile);
const EMULATOR_SCRIPT = join('scripts', 'aws-emulator.sh');

/** Names of everything one bench run creates; all random, so runs never collide. */
export interface BenchNames {
  /** Shared by the tenant slugs of this run. */
  token: string;
  /** SILO_RESOURCE_PREFIX: AWS names and local tenant databases start with it. */
  resourcePrefix: string;
  queuePrefix: string;
  database: string;
}

export function benchNames(): BenchNames {
  return {
    token: randomBytes(3).toString('hex'),
    resourcePrefix: `b${randomBytes(3).toString('hex').slice(0, 5)}`,
    queuePrefix: `bench-${randomBytes(4).toString('hex')}`,
    database: `silo_bench_${randomBytes(5).toString('hex')}`,
  };
}

/** The repository root (where scripts/aws-emulator.sh is), from the source or the compiled file. */
export function repositoryRoot(from = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, EMULATOR_SCRIPT)) && existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no ${EMULATOR_SCRIPT} above ${from}`);
  }
}

export async function createControlPlaneDatabase(url: string): Promise<void> {
  await migrateControlPlane({ url, createDatabase: true });
}

export async function emulator(root: string, action: 'start' | 'stop', port: number): Promise<void> {
  await run('bash', [join(root, EMULATOR_SCRIPT), action, String(port)], {
    cwd: root,
    timeout: action === 'start' ? 300_000 : 30_000,
  });
}

/** The worker's configuration: validated by the same schema as every Silo process. */
export function benchConfig(options: {
  names: BenchNames;
  postgresUrl: string;
  redisUrl: string;
  emulatorPort: number;
  concurrency: number;
}): SiloConfig {
  const { names } = options;
  return loadConfig({
    envFile: false,
    env: {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
      DATABASE_URL: databaseUrl(options.postgresUrl, names.database),
      DATABASE_POOL_MAX: String(Math.max(10, options.concurrency * 2)),
      REDIS_URL: options.redisUrl,
      QUEUE_PREFIX: names.queuePrefix,
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL: `http://127.0.0.1:${options.emulatorPort}`,
      AWS_EMULATOR: 'true',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      SILO_RESOURCE_PREFIX: names.resourcePrefix,
      SILO_ENVIRONMENT: 'bench',
      LOCAL_INSTANCE_ADMIN_URL: options.postgresUrl,
      KMS_KEY_ID: 'alias/silo-tenants',
      WORKER_CONCURRENCY: String(options.concurrency),
      WAIT_INITIAL_DELAY_MS: '50',
      WAIT_MAX_DELAY_MS: '200',
      RETRY_BASE_DELAY_MS: '50',
      RETRY_MAX_DELAY_MS: '200',
      OUTBOX_POLL_MS: '20',
      SHUTDOWN_GRACE_MS: '10000',
    },
  });
}

// Shared with the test suite: the same probes, free-port finder and URL helper.
export { freePort } from '../../test/support/free-port';
export { databaseUrl };

export function assertServicesAnswer(postgresUrl: string, redisUrl: string): Promise<void> {
  return probeServices(postgresUrl, redisUrl, "Start it (npm run dev and npm test start the machine's own).");
}
