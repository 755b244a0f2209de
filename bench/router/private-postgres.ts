import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  claimDirectory,
  CLUSTER_SUPERUSER,
  LocalPostgresCluster,
  removeAbandonedClusters,
} from '../../libs/tenant-schema/src/local-postgres-cluster';

const DIR_PREFIX = 'silo-router-bench-';
export const SUPERUSER = CLUSTER_SUPERUSER;
export const SUPERUSER_RESERVED_CONNECTIONS = 3;

/** Settings that change between workloads (a restart applies them). */
export interface ServerSettings {
  maxConnections: number;
}

/**
 * The bench's throwaway cluster: the local instance backend's (LocalPostgresCluster) in a
 * temporary directory, with what the router bench measures in mind. Its superuser logs in by
 * trust over loopback (every other role by SCRAM, as tenant logins do everywhere), WAL is minimal
 * and neither archived nor replicated, and autovacuum is off. Started, restarted and removed by
 * the bench; a cluster left behind by a bench that was killed is removed by the next run.
 */
export class PrivatePostgres {
  private constructor(
    private readonly cluster: LocalPostgresCluster,
    /** The temporary directory: the cluster, and the bench's claim on it. */
    private readonly home: string,
  ) {}

  get port(): number {
    return this.cluster.port;
  }

  get dir(): string {
    return this.cluster.dir;
  }

  /** Makes the directory and runs initdb; start() comes next. */
  static async create(log: (line: string) => void): Promise<PrivatePostgres> {
    for (const dir of removeAbandonedClusters(tmpdir(), (name) => name.startsWith(DIR_PREFIX)))
      log(`removed a cluster left behind by a bench process: ${dir}`);
    const dir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
    claimDirectory(dir);
    try {
      return new PrivatePostgres(
        await LocalPostgresCluster.open({
          dir: join(dir, 'cluster'),
          throwaway: true,
          superuserAuth: 'trust',
          settings: {
            superuser_reserved_connections: SUPERUSER_RESERVED_CONNECTIONS,
            shared_buffers: '64MB',
            wal_level: 'minimal',
            max_wal_senders: 0,
            max_replication_slots: 0,
            archive_mode: 'off',
            max_wal_size: '4GB',
            checkpoint_timeout: '30min',
            // With thousands of databases the launcher would start a worker every few ms; nothing is written.
            autovacuum: 'off',
            jit: 'off',
            log_min_messages: 'warning',
          },
        }),
        dir,
      );
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Starts the server with these settings, or restarts it when it runs. */
  async start(settings: ServerSettings): Promise<void> {
    await this.cluster.start({ max_connections: settings.maxConnections });
  }

  async stop(): Promise<void> {
    await this.cluster.stop();
  }

  /**
   * Stops the server (immediately) if it may run and deletes the directory with every database
   * in it. Synchronous, so that it can also run from an 'exit' handler.
   */
  remove(): void {
    this.cluster.remove();
    rmSync(this.home, { recursive: true, force: true });
  }

  /** The running postmaster's pid, undefined when it is not running. */
  postmasterPid(): number | undefined {
    return this.cluster.postmasterPid();
  }

  /** The last lines of the server's log, for an error message. */
  logTail(lines = 20): string {
    return this.cluster.logTail(lines);
  }
}
