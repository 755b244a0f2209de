import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { quoteIdentifier } from '@silo/core';
import {
  loadTenantMigrations,
  migrateTenantSchema,
  type MigrationTarget,
  type PgEndpoint,
} from '@silo/tenant-schema';
import type { Client } from 'pg';
import { PrivatePostgres, SUPERUSER } from '../router/private-postgres';
import { withSuperuser } from '../router/tenant-fleet';

const MAX_CONNECTIONS = 100;
/** The role the moves run as: a superuser with a password, whose every statement the server logs. */
export const MOVER_ROLE = 'bench_mover';
/** The tenants' application login: no superuser, no BYPASSRLS, so the tables' forced row-level security binds it. */
export const APP_ROLE = 'bench_app';

/**
 * The bench's private cluster with what logical replication needs. PrivatePostgres writes its own
 * settings (wal_level minimal, no WAL senders); ALTER SYSTEM's postgresql.auto.conf is read after
 * them, so a restart gives wal_level logical without touching that class.
 */
export class MoveCluster {
  private constructor(
    readonly server: PrivatePostgres,
    private readonly moverPassword: string,
    private readonly appPassword: string,
  ) {}

  static async start(log: (line: string) => void): Promise<MoveCluster> {
    const server = await PrivatePostgres.create(log);
    try {
      await server.start({ maxConnections: MAX_CONNECTIONS });
      await withSuperuser(server.port, 'postgres', async (client) => {
        for (const [name, value] of [
          ['wal_level', 'logical'],
          ['max_wal_senders', '20'],
          ['max_replication_slots', '20'],
          // PrivatePostgres turns it off; off, a commit's WAL reaches the walsender only at the WAL
          // writer's next round (wal_writer_delay, 200 ms), which the marker's catch-up would wait for.
          // On, as on RDS; with fsync off the flush costs nothing.
          ['synchronous_commit', 'on'],
          ['log_timezone', 'UTC'],
          // Statement durations with millisecond timestamps: the cut-over's parts are read from them.
          ['log_line_prefix', '%m [%p] %d '],
        ])
          await client.query(`ALTER SYSTEM SET ${name} = ${client.escapeLiteral(value)}`);
      });
      await server.start({ maxConnections: MAX_CONNECTIONS });
      const cluster = new MoveCluster(
        server,
        randomBytes(18).toString('base64url'),
        randomBytes(18).toString('base64url'),
      );
      await withSuperuser(server.port, 'postgres', async (client) => {
        const { rows } = await client.query<{ wal_level: string }>('SHOW wal_level');
        if (rows[0].wal_level !== 'logical')
          throw new Error(`wal_level is ${rows[0].wal_level} after the restart`);
        await client.query(
          `CREATE ROLE ${MOVER_ROLE} LOGIN SUPERUSER PASSWORD ${client.escapeLiteral(cluster.moverPassword)}`,
        );
        await client.query(`ALTER ROLE ${MOVER_ROLE} SET log_min_duration_statement = 0`);
        await client.query(
          `CREATE ROLE ${APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD ${client.escapeLiteral(cluster.appPassword)}`,
        );
      });
      return cluster;
    } catch (error) {
      server.remove();
      throw error;
    }
  }

  /** The server's log, where the cluster class has pg_ctl write it (the name is the class's own). */
  get logPath(): string {
    const candidates = ['server.log', 'postgres.log'].map((name) => join(this.server.dir, name));
    return candidates.find((path) => existsSync(path)) ?? candidates[0];
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
  admin<T>(database: string, use: (client: Client) => Promise<T>): Promise<T> {
    return withSuperuser(this.server.port, database, use);
  }

  superuserEndpoint(database: string): PgEndpoint {
    return { host: '127.0.0.1', port: this.server.port, database, user: SUPERUSER, password: '' };
  }

  /** What the move library is given: a role that may replicate, logging in with SCRAM. */
  moverEndpoint(database: string): PgEndpoint {
    return {
      host: '127.0.0.1',
      port: this.server.port,
      database,
      user: MOVER_ROLE,
      password: this.moverPassword,
    };
  }

  /** What the tenants' application logs in as. */
  appEndpoint(database: string): PgEndpoint {
    return {
      host: '127.0.0.1',
      port: this.server.port,
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
