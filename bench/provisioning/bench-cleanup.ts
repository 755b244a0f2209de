import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import type { AwsClients } from '@silo/aws';
import { quoteIdentifier } from '@silo/core';
import { removeLocalInstance } from '@silo/tenant-schema';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { cleanupSteps } from '../common/cleanup';
import { emulator, type BenchNames } from './bench-environment';

/** What a run has made so far; filled in before each thing is made, so cleanup finds it. */
export interface BenchResources {
  names: BenchNames;
  root: string;
  postgresUrl: string;
  redisUrl: string;
  database?: string;
  emulatorPort?: number;
  baselineAws?: AwsClients;
  app?: INestApplicationContext;
  /** Slugs of the saga's tenants: each may own a local database and two roles. */
  tenantSlugs: string[];
}

const STEP_TIMEOUT_MS = 60_000;

/**
 * Removes everything the run made, in an order that keeps it removed: the worker is closed
 * before the tenant databases go (a running saga could recreate one), and the queue keys go after
 * the worker. Every step runs even when an earlier one failed; the problems are returned.
 */
export async function cleanUp(
  res: BenchResources,
  options: { keepEmulatorLog: boolean; log: (line: string) => void },
): Promise<string[]> {
  const { log } = options;
  const { step, problems } = cleanupSteps(STEP_TIMEOUT_MS);
  const { names, postgresUrl } = res;

  if (res.app) {
    const app = res.app;
    await step('closing the worker', () => app.close());
  }
  res.baselineAws?.onApplicationShutdown();

  if (res.tenantSlugs.length) {
    await step(`removing ${res.tenantSlugs.length} local tenant databases and their roles`, () =>
      forEachLimited(res.tenantSlugs, 4, (slug) => {
        const underscored = `${names.resourcePrefix}_${slug}`.replace(/-/g, '_');
        return removeLocalInstance(postgresUrl, {
          database: `${names.resourcePrefix}-${slug}`,
          roles: [`${underscored}_app`, `${underscored}_admin`],
        });
      }),
    );
  }
  // The prefix is random per run, so anything carrying it is this run's.
  await step('removing leftover tenant databases and roles', () =>
    withAdmin(postgresUrl, async (client) => {
      const databases = await client.query<{ name: string }>(
        'SELECT datname AS name FROM pg_database WHERE starts_with(datname, $1)',
        [`${names.resourcePrefix}-`],
      );
      const roles = await client.query<{ name: string }>(
        'SELECT rolname AS name FROM pg_roles WHERE starts_with(rolname, $1)',
        [`${names.resourcePrefix}_`],
      );
      if (databases.rowCount || roles.rowCount) {
        log(`cleanup: removing ${databases.rowCount} leftover databases and ${roles.rowCount} roles`);
      }
      for (const { name } of databases.rows) {
        await client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`);
      }
      for (const { name } of roles.rows) await client.query(`DROP ROLE IF EXISTS ${quoteIdentifier(name)}`);
    }),
  );

  if (res.database) {
    const database = res.database;
    await step(`dropping ${database}`, () =>
      withAdmin(postgresUrl, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)} WITH (FORCE)`);
      }),
    );
  }

  await step(`deleting Redis keys ${names.queuePrefix}:*`, () =>
    deleteRedisKeys(res.redisUrl, `${names.queuePrefix}:*`),
  );

  if (res.emulatorPort !== undefined) {
    const port = res.emulatorPort;
    await step(`stopping the emulator on port ${port}`, () => emulator(res.root, 'stop', port));
    const emulatorLog = join(res.root, '.cache', 'emulator', `moto-${port}.log`);
    if (options.keepEmulatorLog) log(`the emulator's log is kept in ${emulatorLog}`);
    else rmSync(emulatorLog, { force: true });
  }
  return problems;
}

export async function withAdmin<T>(postgresUrl: string, use: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: postgresUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

export async function deleteRedisKeys(redisUrl: string, pattern: string): Promise<void> {
  const redis = new IORedis(redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 5000 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  action: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await action(items[next++]);
    }),
  );
}
