import { Pool, type DatabaseError } from 'pg';
import { parseAppSecret } from './secrets-manager-credential-source';
import type { SecretReader } from './secrets-manager-secret-reader';

export interface DirectoryDatabaseOptions {
  /**
   * The Secrets Manager secret of the data plane's own login to the control-plane database
   * (`<prefix>/control-plane/data-plane`): host, port, dbname, username, password.
   */
  secretId: string;
  /** TLS to the control-plane database. */
  ssl: false | { rejectUnauthorized: boolean; ca?: string };
  /** Connections this process holds to it. The router caches what it reads: 2 is plenty. */
  poolMax: number;
  /** How long a connection may take to open, in ms. */
  connectTimeoutMs: number;
}

/** PostgreSQL's invalid_password: the secret was rotated since the pool was made. */
const INVALID_PASSWORD = '28P01';

/**
 * The tenant directory's database, seen through the data-plane login only: a small pg pool made
 * from the login's secret on first use, and made again from a fresh read of the secret when the
 * server refuses the password (a rotation). The login can read the directory view and nothing
 * else, so an application never holds the control plane's own credentials.
 */
export class DirectoryDatabase {
  private pool: Pool | undefined;
  private opening: Promise<Pool> | undefined;

  constructor(
    private readonly secrets: SecretReader,
    private readonly options: DirectoryDatabaseOptions,
  ) {}

  // The shape of TypeORM's DataSource.query, so ControlPlaneTenantDirectory takes either.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async query<T = any>(sql: string, parameters?: unknown[]): Promise<T> {
    const pool = await this.open();
    try {
      return (await pool.query(sql, parameters)).rows as T;
    } catch (error) {
      if ((error as DatabaseError).code === INVALID_PASSWORD) this.discard(pool);
      throw error;
    }
  }

  async close(): Promise<void> {
    const pool = this.pool ?? (await this.opening?.catch(() => undefined));
    this.pool = undefined;
    this.opening = undefined;
    await pool?.end();
  }

  private open(): Promise<Pool> {
    if (this.pool) return Promise.resolve(this.pool);
    this.opening ??= this.make().then(
      (pool) => {
        this.pool = pool;
        this.opening = undefined;
        return pool;
      },
      (error: unknown) => {
        this.opening = undefined;
        throw error;
      },
    );
    return this.opening;
  }

  private async make(): Promise<Pool> {
    const value = await this.secrets.read(this.options.secretId);
    if (value === null) {
      throw new Error(
        `secret ${this.options.secretId} does not exist: the control plane creates it (the data-plane login of its database)`,
      );
    }
    const login = parseAppSecret(this.options.secretId, value);
    const pool = new Pool({
      host: login.host,
      port: login.port,
      database: login.dbname,
      user: login.username,
      password: login.password,
      ssl: this.options.ssl,
      max: this.options.poolMax,
      connectionTimeoutMillis: this.options.connectTimeoutMs,
      idleTimeoutMillis: 60_000,
      application_name: 'silo-tenant-router-directory',
    });
    // An idle client's error (the server restarted) must not crash the application.
    pool.on('error', () => undefined);
    return pool;
  }

  private discard(pool: Pool): void {
    if (this.pool !== pool) return;
    this.pool = undefined;
    void pool.end().catch(() => undefined);
  }
}
