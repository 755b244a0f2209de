import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { quoteIdentifier } from '@silo/core';
import { cleanupSteps } from '../common/cleanup';
import { deleteRedisKeys, withAdmin } from '../provisioning/bench-cleanup';
import { emulator, type BenchNames } from '../provisioning/bench-environment';
import { forEachLimited } from './for-each-limited';
import { POSTGRES_ADMIN_URL } from './rollout-environment';

/** What a run has made so far; filled in before each thing is made, so cleanup finds it. */
export interface RolloutBenchResources {
  names: BenchNames;
  root: string;
  redisUrl: string;
  setupConcurrency: number;
  database?: string;
  emulatorPort?: number;
  /** Set before the worker boots: from then on the queue prefix may have keys in Redis. */
  queueUsed?: boolean;
  worker?: INestApplicationContext;
}

const STEP_TIMEOUT_MS = 60_000;
/** Dropping a database takes a few hundred ms here (a checkpoint each); thousands take minutes. */
const TENANT_REMOVAL_TIMEOUT_MS = 600_000;

/**
 * Removes everything the run made, in an order that keeps it removed: the worker is closed
 * before the tenant databases go (a running pass could still connect to one), the queue keys
 * after the worker. Tenant databases and roles are found by the run's random resource prefix,
 * so ones made by a fleet call that was interrupted halfway go too. Every step runs even when
 * an earlier one failed; the problems are returned.
 */
export async function cleanUpRolloutBench(
  res: RolloutBenchResources,
  options: { keepEmulatorLog: boolean; log: (line: string) => void },
): Promise<string[]> {
  const { log } = options;
  const { step, problems } = cleanupSteps(STEP_TIMEOUT_MS);
  const long = cleanupSteps(TENANT_REMOVAL_TIMEOUT_MS);
  const { names } = res;

  if (res.worker) {
    const worker = res.worker;
    await step('closing the worker', () => worker.close());
    res.worker = undefined;
  }

  await long.step('removing the tenant databases and roles', async () => {
    const { databases, roles } = await withAdmin(POSTGRES_ADMIN_URL, async (client) => ({
      databases: (
        await client.query<{ name: string }>(
          'SELECT datname AS name FROM pg_database WHERE starts_with(datname, $1)',
          [`${names.resourcePrefix}-`],
        )
      ).rows.map((r) => r.name),
      roles: (
        await client.query<{ name: string }>(
          'SELECT rolname AS name FROM pg_roles WHERE starts_with(rolname, $1)',
          [`${names.resourcePrefix}_`],
        )
      ).rows.map((r) => r.name),
    }));
    if (!databases.length && !roles.length) return;
    log(`cleanup: removing ${databases.length} tenant databases and ${roles.length} roles`);
    const started = performance.now();
    await forEachLimited(databases, res.setupConcurrency, async (name) => {
      await withAdmin(POSTGRES_ADMIN_URL, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`),
      );
    });
    await withAdmin(POSTGRES_ADMIN_URL, async (client) => {
      for (const name of roles) await client.query(`DROP ROLE IF EXISTS ${quoteIdentifier(name)}`);
    });
    log(
      `cleanup: tenant databases and roles removed in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  });

  if (res.database) {
    const database = res.database;
    await step(`dropping ${database}`, () =>
      withAdmin(POSTGRES_ADMIN_URL, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)} WITH (FORCE)`);
      }),
    );
  }

  if (res.queueUsed) {
    await step(`deleting Redis keys ${names.queuePrefix}:*`, () =>
      deleteRedisKeys(res.redisUrl, `${names.queuePrefix}:*`),
    );
  }

  if (res.emulatorPort !== undefined) {
    const port = res.emulatorPort;
    await step(`stopping the emulator on port ${port}`, () => emulator(res.root, 'stop', port));
    const emulatorLog = join(res.root, '.cache', 'emulator', `moto-${port}.log`);
    if (options.keepEmulatorLog) log(`the emulator's log is kept in ${emulatorLog}`);
    else rmSync(emulatorLog, { force: true });
  }
  return [...long.problems, ...problems];
}
