import { Client, type ClientConfig } from 'pg';

/** Where, and as which role, Silo reaches one tenant database. */
export interface PgEndpoint {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  /**
   * TLS. Default false. `true` verifies the server against Node's trust store, which does not
   * hold the Amazon RDS CA: for RDS pass `{ ca: <RDS CA bundle PEM> }` (or set NODE_EXTRA_CA_CERTS).
   */
  ssl?: boolean | PgTls;
  /** Default 5000. */
  connectTimeoutMs?: number;
}

/** TLS settings for a tenant connection. */
export interface PgTls {
  /** Default true. */
  rejectUnauthorized?: boolean;
  /** PEM certificates to trust, e.g. the Amazon RDS CA bundle. */
  ca?: string;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/** pg client options for an endpoint. */
export function pgClientConfig(endpoint: PgEndpoint, applicationName: string): ClientConfig {
  return {
    host: endpoint.host,
    port: endpoint.port,
    database: endpoint.database,
    user: endpoint.user,
    password: endpoint.password,
    ssl: endpoint.ssl ?? false,
    connectionTimeoutMillis: endpoint.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    application_name: applicationName,
  };
}

/** Connects one client, runs `work` with it and always closes it. */
export async function withPgClient<T>(
  config: ClientConfig,
  work: (client: Client) => Promise<T>,
): Promise<T> {
  const client = new Client(config);
  // A connection lost between queries fails the next query; unheard, the 'error' event would
  // crash the process instead.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await work(client);
  } finally {
    // Closing must not hide the outcome of the work; the socket is gone either way.
    await client.end().catch(() => undefined);
  }
}

/**
 * Runs `work` in one transaction that first takes the transaction-level advisory lock `key`, so
 * concurrent callers run one after the other (concurrent GRANTs on one object can otherwise fail
 * with "tuple concurrently updated").
 */
export async function inLockedTransaction<T>(
  client: Client,
  key: string,
  work: () => Promise<T>,
): Promise<T> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [key]);
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** The SQLSTATE of a PostgreSQL error, if it is one. */
export function sqlState(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string')
    return error.code;
  return undefined;
}
