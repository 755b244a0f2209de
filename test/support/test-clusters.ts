import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import {
  claimDirectory,
  LocalPostgresCluster,
  removeAbandonedClusters,
  stopClustersUnder,
} from '../../libs/tenant-schema/src/local-postgres-cluster';
import { rmSync } from 'node:fs';
import { takeBaseBackup } from '../../libs/tenant-schema/src/local-backups';

/** Under the checkout's .cache: one directory per jest run, removed by its teardown. */
export const CLUSTERS_ROOT = resolve(__dirname, '../../.cache/test-clusters');

/**
 * The local backend's own PostgreSQL clusters of a test run (LocalPostgresCluster: SCRAM for
 * every login, wal_level=logical, WAL archived; durability off), by the variable that gives the
 * workers each one's admin URL. `instances` holds the first region's tenant instances and, unless
 * a test puts them apart, its shared hosts; `hosts` is the first region's shared hosts where a
 * test needs them on another server (moves: a moved tenant has logins of the same names on its
 * source and target, and roles belong to a server); `second` is the second region's.
 */
export const TEST_CLUSTERS = {
  instances: 'SILO_TEST_INSTANCE_ADMIN_URL',
  hosts: 'SILO_TEST_HOST_ADMIN_URL',
  second: 'SILO_TEST_INSTANCE_ADMIN_URL_2',
} as const;

/**
 * Starts the run's clusters under CLUSTERS_ROOT/<run id> and puts their admin URLs in
 * process.env (see TEST_CLUSTERS). Clusters of runs that were killed before their teardown are
 * removed first.
 */
export async function startTestClusters(): Promise<void> {
  removeAbandonedClusters(CLUSTERS_ROOT);
  const dir = join(CLUSTERS_ROOT, `run-${process.pid}-${randomBytes(3).toString('hex')}`);
  claimDirectory(dir);
  process.env.SILO_TEST_CLUSTERS_DIR = dir;
  await Promise.all(
    Object.entries(TEST_CLUSTERS).map(async ([name, variable]) => {
      const cluster = await LocalPostgresCluster.open({ dir: join(dir, name), throwaway: true });
      await cluster.start();
      // Point-in-time restores (local-backups.ts) recover from a base backup and the archive.
      await takeBaseBackup(cluster);
      process.env[variable] = cluster.adminUrl;
    }),
  );
}

/** Stops and removes the run's clusters. */
export function stopTestClusters(): void {
  const dir = process.env.SILO_TEST_CLUSTERS_DIR;
  if (!dir) return;
  delete process.env.SILO_TEST_CLUSTERS_DIR;
  for (const variable of Object.values(TEST_CLUSTERS)) delete process.env[variable];
  stopClustersUnder(dir);
  rmSync(dir, { recursive: true, force: true });
}
