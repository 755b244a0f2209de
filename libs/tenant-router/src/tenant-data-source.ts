import { APP_SCHEMA } from '@silo/core/provisioning/tenant-resource-names';
import { quoteIdentifier } from '@silo/core/sql/sql-identifier';
import type { Client } from 'pg';
import type { DataSource } from 'typeorm';
import type { PostgresConnectionOptions } from 'typeorm/driver/postgres/PostgresConnectionOptions';
import type { TenantAppCredentials, TenantPlacement, TenantRouterOptions } from './tenant-router.types';

/** `application_name` of every connection the router opens (visible in pg_stat_activity). */
export const TENANT_ROUTER_APPLICATION_NAME = 'silo-tenant-router';

/** SQLSTATE invalid_password: the password (or the role) was refused. */
const INVALID_PASSWORD = '28P01';
/** 28000: e.g. "role is not permitted to log in", a login retired by a credential rotation. */
const INVALID_AUTHORIZATION = '28000';
/** 25006: a write on a read-only transaction; a moved tenant's old database answers its writes so. */
const READ_ONLY_SQL_TRANSACTION = '25006';

/**
 * What a tenant id may be to go into a connection's startup options: the control plane's ids are
 * uuids; nothing that could end the setting (whitespace, a backslash) or start another.
 */
const TENANT_SETTING_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * The pg startup parameter `options` of a DataSource serving `placement`: the search path its
 * unqualified names resolve in (the tenant's schema, or `app`) and, for a tenant's own DataSource
 * (`instance`, `schema`), `app.tenant_id`, so row-level security sees the tenant even where the
 * login carries no role default. A pool host's connections carry no tenant: its tenants set theirs
 * per transaction. Both values are validated; the schema is quoted.
 */
export function startupOptions(placement: TenantPlacement, tenantId: string): string {
  const schema = placement.kind === 'schema' ? placement.schema : APP_SCHEMA;
  const searchPath = `-c search_path=${quoteIdentifier(schema, 'tenant schema')}`;
  if (placement.kind === 'pool') return searchPath;
  if (!TENANT_SETTING_PATTERN.test(tenantId))
    throw new Error(
      `tenant id ${JSON.stringify(tenantId.slice(0, 80))} cannot be set as app.tenant_id: use letters, digits, - and _`,
    );
  return `${searchPath} -c app.tenant_id=${tenantId}`;
}

/**
 * The startup `options` of a restore copy's DataSource: `app.tenant_id` only. Its search path is
 * its read-only login's role default, which names where the copy holds the tenant's tables (`app`,
 * or a schema tenant's own schema, restored from its host).
 */
export function restoreCopyStartupOptions(tenantId: string): string {
  return startupOptions({ kind: 'instance' }, tenantId).replace(/^-c search_path=\S+ /, '');
}

/**
 * TypeORM options for one DataSource (a tenant's own, or a pool host's): the login's
 * credentials, the startup `options` (see {@link startupOptions}), the router's entity classes, a
 * pg pool of `poolSize` whose every wait is bounded and that keeps no connection it does not use,
 * its connections opened through the router's gate (`client`), nothing run at start-up.
 */
export function tenantDataSourceOptions(
  credentials: TenantAppCredentials,
  startup: string,
  poolSize: number,
  options: TenantRouterOptions,
  onPoolError: (error: unknown) => void,
  client?: typeof Client,
): PostgresConnectionOptions {
  return {
    type: 'postgres',
    host: credentials.host,
    port: credentials.port,
    database: credentials.dbname,
    username: credentials.username,
    password: credentials.password,
    ssl: options.ssl,
    entities: options.entities,
    synchronize: false,
    migrationsRun: false,
    dropSchema: false,
    // The app role may not CREATE EXTENSION; the schema is the tenant migrations' business.
    installExtensions: false,
    logging: false,
    poolErrorHandler: onPoolError,
    extra: {
      max: poolSize,
      min: 0,
      ...(client ? { Client: client } : {}),
      connectionTimeoutMillis: options.connectionTimeoutMs,
      idleTimeoutMillis: poolClientIdleMs(options.idleTimeoutMs),
      application_name: TENANT_ROUTER_APPLICATION_NAME,
      options: startup,
    },
  };
}

/**
 * How long a pooled connection may sit unused before pg closes it: half the DataSource's idle
 * timeout, between 1 s and 60 s, so a quiet tenant gives its connections back before its
 * DataSource is closed, and a busy one does not reconnect between bursts.
 */
export function poolClientIdleMs(idleTimeoutMs: number): number {
  return Math.min(60_000, Math.max(1_000, Math.floor(idleTimeoutMs / 2)));
}

/**
 * What pg-pool exposes about its clients (pg-pool 3: getters on the Pool), and the two internals
 * the router uses to close one idle client (pg-pool has no public call for that): `_idle`, its
 * idle clients, and `_remove(client)`, which ends one and forgets it, as its idle timeout does.
 */
interface PgPoolGauge {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  on?(event: 'release', listener: () => void): void;
  _idle?: { client: unknown }[];
  _remove?(client: unknown): void;
  _clients?: unknown[];
  _isFull?(): boolean;
  _pulseQueue?(): void;
}

/** What the router reads of TypeORM's PostgresDriver (`master` is the pg.Pool, absent when closed). */
interface PostgresDriverView {
  master?: PgPoolGauge;
  connectedQueryRunners?: readonly unknown[];
}

/**
 * True while the DataSource's pool has a client checked out or a request waiting for one, or a
 * TypeORM query runner holds a connection: destroying it then would kill that work.
 */
export function poolBusy(dataSource: DataSource): boolean {
  const driver = dataSource.driver as unknown as PostgresDriverView;
  if (driver.connectedQueryRunners !== undefined && driver.connectedQueryRunners.length > 0) return true;
  const pool = driver.master;
  return pool !== undefined && (pool.totalCount > pool.idleCount || pool.waitingCount > 0);
}

/** The DataSource's pg pool, absent before initialisation and after destroy(). */
function poolOf(dataSource: DataSource): PgPoolGauge | undefined {
  return (dataSource.driver as unknown as PostgresDriverView | undefined)?.master;
}

/** Connections the DataSource's pool holds now. */
export function poolConnections(dataSource: DataSource): number {
  return poolOf(dataSource)?.totalCount ?? 0;
}

/** Idle connections the DataSource's pool holds now. */
export function poolIdleConnections(dataSource: DataSource): number {
  return poolOf(dataSource)?.idleCount ?? 0;
}

/**
 * Closes the pool's longest-idle connection (the first of pg-pool's idle list, which it fills at
 * the end); false when it has none idle, or its pool does not look like pg-pool 3.
 */
export function closeOneIdleClient(dataSource: DataSource): boolean {
  const pool = poolOf(dataSource);
  const idle = pool?._idle;
  if (!pool || !Array.isArray(idle) || idle.length === 0 || typeof pool._remove !== 'function') return false;
  pool._remove(idle[0].client);
  return true;
}

/**
 * Lets the DataSource's pool open connections beyond its first only while `mayGrow()`, or once a
 * request has waited `holdMs` for one: with the connection budget spent, a tenant that holds a
 * connection queues its next query on it (usually a wait of one short query) rather than take
 * the place of another tenant's idle connection (a login for each of them, the costliest thing
 * the router does). A query held longer (a long query or transaction on the one connection)
 * opens another through the gate as it would have at once, so nothing waits on itself for more
 * than `holdMs`. pg-pool decides between queueing a request and opening a client by `_isFull()`,
 * which this wraps; a pool without it is left as it is.
 */
export function growPoolOnlyWhen(
  dataSource: DataSource,
  mayGrow: () => boolean,
  holdMs: number,
  now: () => number,
): void {
  const pool = poolOf(dataSource);
  if (pool === undefined || typeof pool._isFull !== 'function' || !Array.isArray(pool._clients)) return;
  const isFull = pool._isFull.bind(pool);
  /** When the current hold began: requests queue on the pool's own connection from then on. */
  let heldSince: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  const endHold = () => {
    heldSince = undefined;
    clearTimeout(timer);
    timer = undefined;
  };
  // The answer may depend only on the time within one hold: pg-pool asks twice in one
  // _pulseQueue (before and after taking a request off its queue) and throws when they differ.
  pool._isFull = () => {
    if (isFull()) return true;
    // pg-pool replaces its _clients array when it removes one: read it through the pool. With an
    // idle client there is nothing to hold: the request takes it.
    if ((pool._clients?.length ?? 0) === 0) {
      endHold();
      return false;
    }
    if ((pool._idle?.length ?? 0) > 0 || mayGrow()) return false;
    if (heldSince === undefined) {
      const began = now();
      heldSince = began;
      timer = setTimeout(() => {
        timer = undefined;
        // The hold is over when its timer fires, whatever `now()` says: a timer may fire a
        // millisecond before the clock shows holdMs gone (libuv's loop time is not the clock),
        // and a pulse that still found the hold on would leave the request queued behind the
        // long query with no timer left to end it.
        if (heldSince === began) heldSince = began - holdMs;
        if (pool.waitingCount > 0) pool._pulseQueue?.();
      }, holdMs);
      timer.unref();
      return true;
    }
    return now() - heldSince < holdMs;
  };
  // A hold ends once the pool has served what queued (pg-pool hands a released client to its
  // queue right after 'release').
  pool.on?.('release', () => {
    if (heldSince !== undefined)
      setImmediate(() => {
        if (pool.waitingCount === 0) endHold();
      });
  });
}

/** Calls `listener` whenever the DataSource's pool gets a client back (pg-pool's 'release'). */
export function onPoolRelease(dataSource: DataSource, listener: () => void): void {
  const pool = poolOf(dataSource);
  if (typeof pool?.on === 'function') pool.on('release', listener);
}

/**
 * Ends a pool TypeORM left behind: a DataSource whose initialisation failed after the pool was
 * made is not destroyed by TypeORM, and its connections would linger until they idle out.
 */
export async function endLeftoverPool(dataSource: DataSource): Promise<void> {
  const driver = dataSource.driver as unknown as { master?: { ended?: boolean; end(): Promise<void> } };
  const pool = driver.master;
  if (pool === undefined || pool.ended === true) return;
  await pool.end();
}

/** True when `error` (or what it wraps: TypeORM's driverError, a cause) is PostgreSQL's 28P01. */
export function isAuthenticationFailure(error: unknown): boolean {
  return hasSqlState(error, (code) => code === INVALID_PASSWORD || code === INVALID_AUTHORIZATION);
}

/**
 * True when `error` is PostgreSQL's 25006 (read_only_sql_transaction): what a moving tenant's old
 * database answers its writes once they are paused or switched away (its guard trigger), and a
 * read-only server (a standby) any write. Either way the tenant's route may have changed.
 */
export function isWriteRefusedAsMoved(error: unknown): boolean {
  return hasSqlState(error, (code) => code === READ_ONLY_SQL_TRANSACTION);
}

function hasSqlState(error: unknown, matches: (code: unknown) => boolean): boolean {
  for (let e: unknown = error, depth = 0; e !== null && typeof e === 'object' && depth < 4; depth++) {
    const { code, driverError, cause } = e as { code?: unknown; driverError?: unknown; cause?: unknown };
    if (matches(code)) return true;
    e = driverError ?? cause;
  }
  return false;
}
