import { LocalPostgresCluster } from '../../libs/tenant-schema/src/local-postgres-cluster';
import { clusterDirOf, takeBaseBackup } from '../../libs/tenant-schema/src/local-backups';

/**
 * A new base backup of the running cluster behind `adminUrl` (the run's own clusters): a
 * point-in-time restore recovers from the newest base backup before its time and replays the WAL
 * from there, so a test that restores takes one first rather than replay everything the whole
 * run has written since the cluster started.
 */
export async function takeFreshBaseBackup(adminUrl: string): Promise<void> {
  const cluster = await LocalPostgresCluster.open({ dir: await clusterDirOf(adminUrl), throwaway: true });
  await takeBaseBackup(cluster);
}
