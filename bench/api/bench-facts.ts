import { cpus, totalmem } from 'node:os';
import IORedis from 'ioredis';
import { Client } from 'pg';
import type { ApiBenchArgs } from './api-bench-args';
import type { ApiBenchFacts } from './api-bench-report';

/** The machine, the services' versions and what the run left in the control plane. */
export async function gatherFacts(
  args: ApiBenchArgs,
  controlPlaneUrl: string,
  database: string,
  queuePrefix: string,
  http: { rateLimit: { points: number; windowSeconds: number } },
): Promise<Omit<ApiBenchFacts, 'loadBefore' | 'loadAfter'>> {
  const db = new Client({ connectionString: controlPlaneUrl, application_name: 'silo-bench-facts' });
  await db.connect();
  let postgres: string;
  let written: ApiBenchFacts['written'];
  try {
    const version = await db.query<{ v: string }>('SELECT current_setting($1) AS v', ['server_version']);
    const counts = await db.query<{ tenants: number; outbox: number }>(
      'SELECT (SELECT count(*) FROM tenants)::int AS tenants, (SELECT count(*) FROM outbox)::int AS outbox',
    );
    postgres =
      `PostgreSQL ${version.rows[0].v} at ${hostPort(args.postgresUrl, 5432)}, control plane ${database}; ` +
      `the API's pool: DATABASE_POOL_MAX=${args.poolMax} connections`;
    written = counts.rows[0];
  } finally {
    await db.end();
  }
  const redis = new IORedis(args.redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 5000 });
  let redisVersion: string;
  try {
    const info = await redis.info('server');
    redisVersion = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  } finally {
    redis.disconnect();
  }
  const cores = cpus();
  return {
    date: new Date().toISOString().slice(0, 10),
    machine:
      `${cores.length} cores (${cores[0]?.model.trim() ?? 'unknown'}), ` +
      `${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${process.platform} ${process.arch}`,
    node: process.version,
    postgres,
    redis: `Redis ${redisVersion} at ${hostPort(args.redisUrl, 6379)}, keys under ${queuePrefix}:`,
    api:
      `AppModule as main.ts builds it; LOG_LEVEL=${args.logLevel}, HTTP_ACCESS_LOG=true, ` +
      `mutation rate limit ${http.rateLimit.points} per ${http.rateLimit.windowSeconds} s (counted ` +
      `in Redis), HS256 bearer token (role ops)`,
    jitWarmupS: args.jitWarmupS,
    warmupS: args.warmupS,
    durationS: args.durationS,
    written,
  };
}

function hostPort(url: string, defaultPort: number): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || defaultPort}`;
}
