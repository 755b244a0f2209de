import type { INestApplication } from '@nestjs/common';
import { quoteIdentifier } from '@silo/core';
import { cleanupSteps } from '../common/cleanup';
import type { BenchNames } from '../provisioning/bench-environment';
import { deleteRedisKeys, withAdmin } from '../provisioning/bench-cleanup';
import type { CallCounters } from './call-counters';

/** What a run has made so far; filled in before each thing is made, so cleanup finds it. */
export interface ApiBenchResources {
  names: BenchNames;
  postgresUrl: string;
  redisUrl: string;
  database?: string;
  /** The bare app and the API instances, in the order they were started. */
  apps: INestApplication[];
  counters?: CallCounters;
}

const STEP_TIMEOUT_MS = 30_000;

/**
 * Closes the servers (the API's pool and Redis connections with them), then drops the
 * control-plane database and deletes the Redis keys under the run's prefix. Every step runs
 * even when an earlier one failed; the problems are returned.
 */
export async function cleanUpApiBench(res: ApiBenchResources): Promise<string[]> {
  const { step, problems } = cleanupSteps(STEP_TIMEOUT_MS);

  for (const app of res.apps.splice(0).reverse()) await step('closing a server', () => app.close());
  res.counters?.uninstall();

  if (res.database) {
    const database = res.database;
    await step(`dropping ${database}`, () =>
      withAdmin(res.postgresUrl, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)} WITH (FORCE)`);
      }),
    );
  }
  const pattern = `${res.names.queuePrefix}:*`;
  await step(`deleting Redis keys ${pattern}`, () => deleteRedisKeys(res.redisUrl, pattern));
  return problems;
}
