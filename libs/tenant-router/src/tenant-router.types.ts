import type { Placement } from '@silo/core/provisioning/tenant-resource-names';
import type { TenantStatus } from '@silo/core/tenant/tenant-status';
import type { TierName } from '@silo/core/tenant/tier';
import type { Redis } from 'ioredis';
import type { DataSource, DataSourceOptions, EntityManager, EntitySchema } from 'typeorm';

/**
 * Where a tenant's data lives, as the data plane reaches it (design.md, "Placements"):
 * - `instance`: its own database, tables in schema `app`, its own login;
 * - `schema`: its own schema (`schema`) and login on a shared host's database;
 * - `pool`: its rows in the shared tables (schema `app`) of host `hostId`'s pool database, reached
 *   with the host's one pool login and isolated by row-level security on `app.tenant_id`.
 */
export type TenantPlacement =
  | { kind: 'instance' }
  | { kind: 'schema'; schema: string }
  | { kind: 'pool'; hostId: string; hostName: string };

/** What the data plane needs to know of a tenant from the control plane. Never a password. */
export interface TenantDirectoryEntry {
  id: string;
  slug: string;
  tier: TierName;
  status: TenantStatus;
  /**
   * The newest tenant migration applied to the tenant's database, as the control plane records
   * it (`tenants.schema_version`); null until the schema has been applied.
   */
  schemaVersion: string | null;
  /**
   * Where the tenant's data lives; decides which DataSource serves it and how. null for a pooled
   * tenant not placed on a host yet, which the control plane allows only while it is not ACTIVE
   * or SUSPENDED (the router serves it nothing).
   */
  placement: TenantPlacement | null;
  /**
   * The AWS region the tenant lives in (its secrets are in that region's Secrets Manager); null
   * for the deployment's default region (the data plane's configured one).
   */
  region: string | null;
  /**
   * Counts the switches of the tenant's route (`tenants.route_version`, 1 at first): a higher one
   * than a DataSource was opened for means the tenant moved, and its DataSource and cached
   * credentials are dropped.
   */
  routeVersion: number;
  /** True while a move's cut-over holds the tenant's writes: new leases wait (`movePauseWaitMs`). */
  writesPaused: boolean;
}

/** Where a restore copy stands: readable while AVAILABLE (and before `expiresAt`), then going and gone. */
export type RestoreCopyStatus = 'AVAILABLE' | 'REMOVING' | 'REMOVED';

/**
 * A tenant's restore copy as the data plane sees it (the control plane's view
 * `data_plane.tenant_restore_copies`): the copy the restore change `run` left beside the tenant,
 * on an instance of its own, read through a read-only login. Never a password.
 */
export interface RestoreCopyEntry {
  tenantId: string;
  /** The restore change that made it (`GET /v1/tenants/{id}/restores` lists them). */
  run: number;
  status: RestoreCopyStatus;
  /** The region it lives in (its reader secret is in that region's Secrets Manager); null: the default. */
  region: string | null;
  /** The secret of its read-only login, `<prefix>/restore-<slug>-<run>/app` (the RDS secret shape). */
  readerSecretName: string;
  /** When the control plane removes it; the router leases it only before then. */
  expiresAt: Date;
}

/** Looks tenants up in the control plane (cached briefly by the router, not by the port). */
export interface TenantDirectory {
  /** null when no tenant has this id. */
  find(tenantId: string): Promise<TenantDirectoryEntry | null>;
  /**
   * The tenant's restore copy made by restore change `run`, whatever its status; null when it has
   * none of that run. Needed only by {@link TenantRouter.readRestoreCopy}; a directory without it
   * serves no copy.
   */
  findRestoreCopy?(tenantId: string, run: number): Promise<RestoreCopyEntry | null>;
}

/**
 * The connection a tenant app uses: the `<prefix>/<slug>/app` secret, as the worker wrote it, or
 * for a pooled tenant its host's `<prefix>/hosts/<name>/pool-app` secret (the same shape).
 */
export interface TenantAppCredentials {
  host: string;
  port: number;
  dbname: string;
  username: string;
  password: string;
}

/**
 * Reads a tenant's app secret, or its pool host's for a pooled tenant (Secrets Manager in
 * production); cached by the router with a TTL, per tenant, and per host for pooled tenants.
 */
export interface TenantCredentialSource {
  fetch(tenant: TenantDirectoryEntry): Promise<TenantAppCredentials>;
  /**
   * The read-only login of the tenant's restore copy `copy` (its `readerSecretName`, in its
   * region). Never the tenant's own login: `fetch` alone reads that. Needed only by
   * {@link TenantRouter.readRestoreCopy}.
   */
  fetchRestoreCopy?(tenant: TenantDirectoryEntry, copy: RestoreCopyEntry): Promise<TenantAppCredentials>;
}

export interface TenantRouterOptions {
  /** Entity classes (never globs) every tenant DataSource is built with. */
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  entities: (Function | EntitySchema)[];
  /**
   * At most this many DataSources cached at once (initialised, with their entity metadata and pg
   * pool, holding connections or not): a bound on memory; the least recently used idle one is
   * closed to make room.
   */
  maxDataSources: number;
  /**
   * Live connections to tenant databases never exceed this: every pooled connection is opened
   * through a gate, and when it is full the idle connections of the least recently used pools
   * are closed first to make room.
   */
  connectionBudget: number;
  /** Pool size (pg `max`) per tier, of each `instance` and `schema` tenant's own DataSource. */
  poolSizeByTier: Record<TierName, number>;
  /**
   * Pool size (pg `max`) of a pool host's DataSource, the one every pooled tenant of that host
   * shares. Default 10, or `connectionBudget` when that is smaller.
   */
  poolSizePerHost?: number;
  /**
   * Fair shares: the concurrent leases (acquire, run) per tenant, by tier, that bind while the
   * budget is contended (a connection waits for a place under `connectionBudget`, or an opening
   * for room under `maxDataSources`); otherwise a tenant borrows past them. A caller past its cap
   * under contention waits up to `leaseWaitMs` for one of its tenant's leases, behind at most
   * `maxLeaseWaitersPerTenant` others, then gets TENANT_BUSY. A tenant's cold start (its
   * DataSource opening) is not counted against the wait. Default: no limit.
   */
  maxLeasesPerTenantByTier?: Record<TierName, number>;
  /**
   * Connections of this process authenticating at once (each SCRAM handshake costs the database
   * CPU); more wait their turn, within their connect timeout. Default 4.
   */
  maxConcurrentConnects?: number;
  /** Callers of one tenant that may wait for a lease at once. Default: the tier's lease cap. */
  maxLeaseWaitersPerTenant?: number;
  /** How long a caller past its tenant's lease cap waits. Default 100. */
  leaseWaitMs?: number;
  /** An unused DataSource is closed after this long. */
  idleTimeoutMs: number;
  /**
   * pg `connectionTimeoutMillis` (always set); also how long an opening waits for room under the
   * limits, and the bound on each directory lookup and secret fetch (a source that hangs gives
   * TENANT_DATABASE_UNAVAILABLE instead of holding every caller of that tenant).
   */
  connectionTimeoutMs: number;
  /** How long a tenant's status is trusted. */
  statusTtlMs: number;
  /**
   * How long a new lease of a tenant whose writes are paused (a move's cut-over) waits for them
   * to resume, taking no connection meanwhile, before it fails with TENANT_MOVING. Leases
   * already held carry on; other tenants never wait. Default 5000.
   */
  movePauseWaitMs?: number;
  /**
   * The control plane's route signals (Redis pub/sub): on each, the tenant is looked up in the
   * directory at once, so that every replica learns of a move's pause and switch within a second.
   * Unset: the status TTL alone. A lost subscription never stops serving.
   */
  routeSignals?: TenantRouteSignalOptions;
  /**
   * Restore copies leased with `readRestoreCopy`: each gets a small DataSource of its own, kept
   * apart from the tenants' (not counted in `maxDataSources`, `connectionBudget` or any tenant's
   * share, so a copy never takes a tenant's connections), closed after `idleTimeoutMs` unused or
   * once the copy expires.
   */
  restoreCopies?: RestoreCopyOptions;
  /** How long a fetched secret is trusted. */
  secretTtlMs: number;
  /** After a failed initialisation, calls for that tenant wait this long before trying again. */
  failureBackoffMs: number;
  /** TLS to tenant databases. */
  ssl: false | { rejectUnauthorized: boolean; ca?: string };
  /**
   * A DataSource returned by `getDataSource` (which holds no lease) is not closed for this long
   * after the call, even when its pool looks idle, so the caller's first query finds it open.
   * Default 1000.
   */
  getDataSourceGraceMs?: number;
  /** How long `close()` waits for leases and running queries before destroying anyway. Default 10000. */
  closeTimeoutMs?: number;
  /** Builds a DataSource from its options (not initialised). Default `new DataSource(options)`; tests stub it. */
  createDataSource?: (options: DataSourceOptions) => DataSource;
  /** Monotonic clock in ms. Default `performance.now()`; tests stub it. */
  clock?: () => number;
}

/** The bounds of the restore copies' DataSources (`TenantRouterOptions.restoreCopies`). */
export interface RestoreCopyOptions {
  /**
   * Restore copies open at once in this process; when all are in use, a lease of another copy is
   * refused (TENANT_DATABASE_UNAVAILABLE, retry shortly), and an idle one is closed to make room.
   * Default 2.
   */
  maxOpen?: number;
  /** Pool size (pg `max`) of each copy's DataSource; the copy's reader login allows 5. Default 2. */
  poolSize?: number;
}

/** Where the control plane publishes its route signals. */
export interface TenantRouteSignalOptions {
  /**
   * A Redis client of the application's, which the router never uses itself: it subscribes on a
   * `duplicate()` of it (a subscribed connection serves nothing else), reconnecting on its own
   * after a loss. Or a `redis://` / `rediss://` URL, for which the router makes its connection
   * with ioredis (a peer dependency, loaded only then).
   */
  redis: Pick<Redis, 'duplicate'> | string;
  /** SILO_RESOURCE_PREFIX of the Silo that moves the tenants: the channel is `<prefix>:tenant-routes`. */
  resourcePrefix: string;
}

/** What the router logs through (a pino logger fits). Never given a password. */
export interface TenantRouterLog {
  warn(fields: object, message: string): void;
  debug?(fields: object, message: string): void;
}

/**
 * A tenant's database lent to one unit of work, whatever its placement; what it runs on is not
 * closed until every lease is released. Write the work as {@link TenantLease.transaction}s and it
 * runs unchanged in every placement.
 */
export interface TenantLease {
  readonly tenantId: string;
  /** The tenant's placement kind, as the router last read it when the lease was taken. */
  readonly placement: Placement;
  /**
   * The DataSource of an `instance` or `schema` tenant (its unqualified names resolve to the
   * tenant's schema). A pooled tenant shares its DataSource with the other tenants of its host,
   * so there this throws {@link TenantLeaseError} POOLED_TENANT_NEEDS_TRANSACTION: use
   * `transaction`.
   */
  readonly dataSource: DataSource;
  /**
   * Runs `work` in one transaction on the tenant's database and commits it, or rolls it back when
   * `work` (or the commit) fails, and rethrows. For a pooled tenant the transaction's first
   * statement is `set_config('app.tenant_id', <tenant id>, true)`, which row-level security reads
   * and which ends with the transaction, so the connection goes back to the pool carrying no
   * tenant. Run every query on `manager`: `manager.connection` is the shared DataSource, and what
   * runs on it outside the transaction sees no pooled tenant's rows and can insert none.
   */
  transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T>;
  /**
   * The tenant's {@link TenantDirectoryEntry.schemaVersion} as the router last read it from the
   * directory when the lease was taken. It is cached with the status, so during or just after a
   * migration it may lag the control plane by up to `statusTtlMs`: code serving both shapes of
   * an expand/contract migration must accept either.
   */
  readonly schemaVersion: string | null;
  release(): void;
  /**
   * Tells the router that this lease's DataSource was refused with 28P01 (a rotated password):
   * it is retired and the secret refetched, once for every caller that saw it fail. Resolves
   * when new credentials are in; the next acquire gets a DataSource built from them.
   */
  reportAuthenticationFailure(): Promise<void>;
}

/** Counters and gauges the router exposes (the Nest module turns them into metrics). */
export interface TenantRouterStats {
  /** DataSources cached: initialised and not yet destroyed (draining ones included). */
  open: number;
  /** Live connections to tenant databases (connecting ones included): what `connectionBudget` bounds. */
  openConnections: number;
  /** The most live connections seen at once. */
  peakConnections: number;
  /** Connections waiting at the gate for a place under `connectionBudget`. */
  connectionsWaiting: number;
  /** Connections that had to wait at the gate (counter). */
  connectionWaits: number;
  /** Leases not yet released. */
  leases: number;
  /** Openings waiting for room under `maxDataSources`. */
  waiting: number;
  /**
   * Per tier: leases given, those of them given past the tier's cap while nothing waited for the
   * budget (borrowed), callers that waited for one, callers refused (TENANT_BUSY). Counters.
   */
  shares: Record<TierName, { leases: number; borrowed: number; waits: number; rejections: number }>;
  /** Calls that found no open DataSource for their tenant and waited for one (joiners count too). */
  coldStarts: number;
  /** `DataSource.initialize()` calls, failed ones included. */
  initialisations: number;
  /** Initialisations that failed. */
  initialisationFailures: number;
  /** DataSources closed to make room for another tenant's. */
  evictions: number;
  /** DataSources closed after `idleTimeoutMs` unused. */
  idleClosed: number;
  /** Secret fetches from the credential source. */
  secretFetches: number;
  /** SCRAM-SHA-256 logins that derived the salted password (PBKDF2), and those that reused cached keys. */
  scramDerivations: number;
  scramKeyHits: number;
  /** Authentication failures (28P01) that made the router refetch the secret and rebuild the DataSource. */
  rotations: number;
  /**
   * Moves: leases that waited out a tenant's paused writes, those refused after
   * `movePauseWaitMs` or because the tenant's old database refused a write (TENANT_MOVING),
   * DataSources retired because their tenant's route switched, route signals heard.
   */
  moves: { pauseWaits: number; refusals: number; routeSwitches: number; signals: number };
  /** Initialisation latencies in ms, most recent last (bounded). */
  initialisationMs: readonly number[];
  /**
   * Restore copies (`readRestoreCopy`), counted apart from everything above: DataSources open,
   * their live connections, leases not yet released, and refusals (RESTORE_COPY_NOT_FOUND,
   * RESTORE_COPY_EXPIRED; counter).
   */
  restoreCopies: { open: number; connections: number; leases: number; refusals: number };
}
