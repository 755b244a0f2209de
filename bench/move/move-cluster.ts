import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quoteIdentifier } from '@silo/core';
import {
  loadTenantMigrations,
  migrateTenantSchema,
  type MigrationTarget,
  type PgEndpoint,
} from '@silo/tenant-schema';
import { Client } from 'pg';
import {
  claimDirectory,
  CLUSTER_SUPERUSER,
  LocalPostgresCluster,
  removeAbandonedClusters,
  stopClustersUnder,
} from '../../libs/tenant-schema/src/local-postgres-cluster';

const DIR_PREFIX = 'silo-move-bench-';
/** The role the moves run as: a superuser with a password, whose every statement the server logs. */
export const MOVER_ROLE = 'bench_mover';
/** The tenants' application login: no superuser, no BYPASSRLS, so the tables' forced row-level security binds it. */
export const APP_ROLE = 'bench_app';

/**
 * The bench's private cluster: the local backend's LocalPostgresCluster (logical replication on,
 * as on RDS) in a temporary directory the bench claims, throwaway (fsync and full_page_writes
 * off), its superuser on trust over loopback, with the bench's settings over those.
 */
export class MoveCluster {
  private constructor(
    private readonly cluster: LocalPostgresCluster,
    /** The temporary directory: the cluster, and the bench's claim on it. */
    private readonly home: string,
    private readonly moverPassword: string,
    private readonly appPassword: string,
  ) {}

  static async start(log: (line: string) => void): Promise<MoveCluster> {
    for (const dir of removeAbandonedClusters(tmpdir(), (name) => name.startsWith(DIR_PREFIX)))
      log(`removed a cluster left behind by a bench process: ${dir}`);
    const home = mkdtempSync(join(tmpdir(), DIR_PREFIX));
    claimDirectory(home);
    try {
      const cluster = await LocalPostgresCluster.open({
        dir: join(home, 'cluster'),
        throwaway: true,
        superuserAuth: 'trust',
        settings: {
          max_connections: 100,
          shared_buffers: '64MB',
          // Not what is measured; RDS archives WAL too, to S3, off the instance's critical path.
          archive_mode: 'off',
          max_wal_size: '4GB',
          checkpoint_timeout: '30min',
          // Throwaway clusters turn it off; off, a commit's WAL reaches the walsender only at the WAL
          // writer's next round (wal_writer_delay, 200 ms), which the marker's catch-up would wait
          // for. On, as on RDS; with fsync off the flush costs nothing.
          synchronous_commit: 'on',
          autovacuum: 'off',
          jit: 'off',
          log_min_messages: 'warning',
          log_timezone: 'UTC',
          // Statement durations with millisecond timestamps: the cut-over's parts are read from them.
          log_line_prefix: '%m [%p] %d ',
        },
      });
      const moveCluster = new MoveCluster(
        cluster,
        home,
        randomBytes(18).toString('base64url'),
        randomBytes(18).toString('base64url'),
      );
      await cluster.start();
      await moveCluster.admin('postgres', async (client) => {
        const { rows } = await client.query<{ wal_level: string }>('SHOW wal_level');
        if (rows[0].wal_level !== 'logical')
          throw new Error(`the cluster runs with wal_level ${rows[0].wal_level}`);
        await client.query(
          `CREATE ROLE ${MOVER_ROLE} LOGIN SUPERUSER PASSWORD ${client.escapeLiteral(moveCluster.moverPassword)}`,
        );
        await client.query(`ALTER ROLE ${MOVER_ROLE} SET log_min_duration_statement = 0`);
        await client.query(
          `CREATE ROLE ${APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD ${client.escapeLiteral(moveCluster.appPassword)}`,
        );
      });
      return moveCluster;
    } catch (error) {
      stopClustersUnder(home);
      rmSync(home, { recursive: true, force: true });
      throw error;
    }
  }

  get port(): number {
    return this.cluster.port;
  }

  get dir(): string {
    return this.cluster.dir;
  }

  /** The server's log (LocalPostgresCluster has pg_ctl write it there). */
  get logPath(): string {
    return join(this.cluster.dir, 'server.log');
  }

  /** Stops the server at once and deletes the directory. Synchronous, for an 'exit' handler too. */
  remove(): void {
    this.cluster.remove();
    rmSync(this.home, { recursive: true, force: true });
  }

  /** Bytes in the server's log so far: where the next cut-over's lines begin. */
  logSize(): number {
    try {
      return statSync(this.logPath).size;
    } catch {
      return 0;
    }
  }

  /** As the cluster's superuser (trust on loopback): set-up, seeding and verification. */
  async admin<T>(database: string, use: (client: Client) => Promise<T>): Promise<T> {
    const client = new Client({
      ...this.superuserEndpoint(database),
      connectionTimeoutMillis: 10_000,
      application_name: 'bench-admin',
    });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await use(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  superuserEndpoint(database: string): PgEndpoint {
    return { host: '127.0.0.1', port: this.port, database, user: CLUSTER_SUPERUSER, password: '' };
  }

  /** What the move library is given: a role that may replicate, logging in with SCRAM. */
  moverEndpoint(database: string): PgEndpoint {
    return {
      host: '127.0.0.1',
      port: this.port,
      database,
      user: MOVER_ROLE,
      password: this.moverPassword,
    };
  }

  /** What the tenants' application logs in as. */
  appEndpoint(database: string): PgEndpoint {
    return {
      host: '127.0.0.1',
      port: this.port,
      database,
      user: APP_ROLE,
      password: this.appPassword,
    };
  }

  /** A new database with the built-in tenant schema in `into`, the application login granted its tables. */
  async createTenantDatabase(database: string, into: MigrationTarget): Promise<void> {
    await this.admin('postgres', (client) => client.query(`CREATE DATABASE ${quoteIdentifier(database)}`));
    await migrateTenantSchema(this.superuserEndpoint(database), loadTenantMigrations(), {
      lockTimeoutMs: 5000,
      statementTimeoutMs: 120_000,
      appliedBy: 'bench',
      tenant: database,
      into,
    });
    await this.admin(database, async (client) => {
      await client.query(`GRANT USAGE ON SCHEMA app TO ${APP_ROLE}`);
      await client.query(`GRANT SELECT, INSERT, UPDATE ON app.notes TO ${APP_ROLE}`);
    });
  }

  async dropDatabase(database: string): Promise<void> {
    await this.admin('postgres', (client) =>
      client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)} WITH (FORCE)`),
    );
  }
}
