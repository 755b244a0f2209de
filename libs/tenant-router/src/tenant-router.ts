import type { TierName } from '@silo/core/tenant/tier';
import { withTimeout } from '@silo/core/async/with-timeout';
import { performance } from 'node:perf_hooks';
import { DataSource, type DataSourceOptions, type EntityManager } from 'typeorm';
import { ConnectSlots, gatedClientClass } from './connection-gate';
import { DataSourceRegistry } from './data-source-registry';
import {
  describeTarget,
  isShared,
  newTarget,
  targetForgettable,
  targetKeyOf,
  type DataSourceTarget,
} from './data-source-target';
import { FairShares, type TenantShare } from './fair-shares';
import { takeTopByLeaseTime, type TenantLeaseTime } from './lease-time-top';
import { RestoreCopies } from './restore-copies';
import { RouterLease } from './router-lease';
import { ScramKeyCache } from './scram-keys';
import { sameCredentials, TenantCredentials } from './tenant-credentials';
import {
  endLeftoverPool,
  isAuthenticationFailure,
  isWriteRefusedAsMoved,
  startupOptions,
  tenantDataSourceOptions,
} from './tenant-data-source';
import {
  pooledTenantNeedsTransaction,
  routerClosed,
  TenantAccessError,
  TenantAccessErrorCode,
  tenantMoving,
  tenantUnavailable,
} from './tenant-router.errors';
import { TenantRouteSignals } from './tenant-route-signals';
import { assertValidRouterOptions } from './tenant-router.options';
import type {
  TenantAppCredentials,
  TenantCredentialSource,
  TenantDirectory,
  TenantDirectoryEntry,
  TenantLease,
  TenantRouterLog,
  TenantRouterOptions,
  TenantRouterStats,
} from './tenant-router.types';
import type { TenantSlot } from './tenant-slot';
import { forgettable, newTenantState, type TenantState } from './tenant-state';
import { TenantStatuses } from './tenant-status';

const LATENCY_SAMPLES = 100;
const DEFAULT_MAX_CONCURRENT_CONNECTS = 4;
const ACQUIRE_ATTEMPTS = 3;
const RETRY_AFTER_MS = 1_000;
const DEFAULT_GET_DATA_SOURCE_GRACE_MS = 1_000;
const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;
const DEFAULT_LEASE_WAIT_MS = 100;
const DEFAULT_POOL_SIZE_PER_HOST = 10;
/** At most this long, or a quarter of the connect timeout, a query waits on its tenant's one connection with the budget spent. */
const MAX_POOL_GROWTH_HOLD_MS = 250;
const SILENT: TenantRouterLog = { warn: () => undefined };

/**
 * Hands a tenant app a lease on its tenant's database, whatever the tenant's placement:
 * - `instance` and `schema` tenants get a DataSource of their own, reached as the tenant's app
 *   login (the `<prefix>/<slug>/app` secret), its search path the tenant's schema (`app` for an
 *   instance) and `app.tenant_id` the tenant, set when each connection starts;
 * - the pooled tenants of one host share ONE DataSource, reached as the host's pool login (the
 *   `<prefix>/hosts/<name>/pool-app` secret, fetched once per host), sized `poolSizePerHost`; its
 *   connections carry no tenant, and a lease runs work only in transactions that set the tenant
 *   first (`set_config('app.tenant_id', …, true)`), so nothing outlives the transaction.
 *
 * - DataSources open lazily; concurrent first calls share one status lookup,
 *   one secret fetch and one initialisation. A failed initialisation is remembered for
 *   `failureBackoffMs` (calls fail fast meanwhile), then retried; it is never cached.
 * - Only ACTIVE tenants get a lease. Status (placement and schema version, which leases carry)
 *   is cached for `statusTtlMs` (refreshed in the background near the end, so the warm path does
 *   not wait); once a tenant is seen not ACTIVE its calls are refused and its own DataSource is
 *   closed when its work is done (a pool host's serves the host's other tenants on).
 * - Fair shares, the connection budget, `maxDataSources`, idle closing and the metrics count
 *   every DataSource alike; a pool host's counts once against the limits, its leases against
 *   each tenant's own share.
 * - Bounded: at most `maxDataSources` DataSources and `connectionBudget` pooled connections
 *   (sum of the tiers' pool sizes), counted until a DataSource is actually destroyed. Room is
 *   made by closing the least recently used idle DataSource; with none idle, openings queue
 *   (FIFO) up to `connectionTimeoutMs`. DataSources unused for `idleTimeoutMs` are closed.
 * - A DataSource is destroyed only when no lease is held on it, its pg pool has no client
 *   checked out and no request waiting, and its getDataSource grace has passed (TypeORM's
 *   destroy() would kill running queries).
 * - `run()` and `transaction()` survive a rotated password: on 28P01 they refetch the secret
 *   once (shared by concurrent callers; the host's for a pooled tenant), rebuild the DataSource
 *   and retry the work once.
 * - A tenant's restore copies are reached by `readRestoreCopy()` alone, on DataSources of their
 *   own counted apart from all of the above (`restoreCopies`); no other call ever opens one.
 *
 * The SQL the router sends is the pooled tenant's `set_config` (the id a bound parameter); the
 * startup options it builds hold a validated tenant id and a quoted schema.
 */
export class TenantRouter {
  private readonly tenants = new Map<string, TenantState>();
  /** What serves the tenants, by `DataSourceTarget.key`: tenants' own, and pool hosts'. */
  private readonly targets = new Map<string, DataSourceTarget>();
  private readonly poolSizePerHost: number;
  private readonly dataSources: DataSourceRegistry;
  private readonly now: () => number;
  private readonly newDataSource: (options: DataSourceOptions) => DataSource;
  private readonly graceMs: number;
  private readonly statuses: TenantStatuses;
  private readonly credentials: TenantCredentials;
  private readonly fair: FairShares;
  private readonly scramKeys: ScramKeyCache;
  private readonly gatedClient: ReturnType<typeof gatedClientClass>;
  private readonly releaseLease = (lease: RouterLease): void => {
    const now = this.now();
    this.dataSources.release(lease.slot, now);
    this.fair.give(lease.share, lease.tier);
    lease.share.leaseMs += now - lease.leasedAt;
  };
  private readonly rotateSlot = (slot: TenantSlot): Promise<void> => this.recoverFromAuthFailure(slot);
  private readonly writeRefused = (tenantId: string, cause: unknown): TenantAccessError =>
    this.reportWriteRefused(tenantId, cause);
  private readonly signals: TenantRouteSignals | undefined;
  private readonly restoreCopies: RestoreCopies;
  private readonly sweepTimer: NodeJS.Timeout;
  private closing: Promise<void> | undefined;
  private readonly counts = {
    coldStarts: 0,
    initialisations: 0,
    initialisationFailures: 0,
    rotations: 0,
    movingRefusals: 0,
    routeSwitches: 0,
  };
  private readonly latencies: number[] = [];

  constructor(
    directory: TenantDirectory,
    credentialSource: TenantCredentialSource,
    private readonly options: TenantRouterOptions,
    private readonly log: TenantRouterLog = SILENT,
  ) {
    assertValidRouterOptions(options);
    this.now = options.clock ?? (() => performance.now());
    this.newDataSource = options.createDataSource ?? ((o) => new DataSource(o));
    this.graceMs = options.getDataSourceGraceMs ?? DEFAULT_GET_DATA_SOURCE_GRACE_MS;
    const registryLimits = {
      maxDataSources: options.maxDataSources,
      connectionBudget: options.connectionBudget,
      growthHoldMs: Math.min(MAX_POOL_GROWTH_HOLD_MS, Math.floor(options.connectionTimeoutMs / 4)),
    };
    this.poolSizePerHost =
      options.poolSizePerHost ?? Math.min(DEFAULT_POOL_SIZE_PER_HOST, options.connectionBudget);
    this.dataSources = new DataSourceRegistry(registryLimits, this.now, log, (slot) => {
      const target = this.targets.get(slot.key);
      if (target?.slot === slot) target.slot = undefined;
    });
    this.statuses = new TenantStatuses(directory, options, this.now, log, (state) => this.bind(state));
    this.credentials = new TenantCredentials(credentialSource, options, this.now);
    this.restoreCopies = new RestoreCopies(
      directory,
      credentialSource,
      options,
      this.now,
      this.newDataSource,
      log,
    );
    // Two logins per tenant while a rotation runs.
    this.scramKeys = new ScramKeyCache(2 * options.maxDataSources);
    this.gatedClient = gatedClientClass(
      this.dataSources.gate,
      new ConnectSlots(options.maxConcurrentConnects ?? DEFAULT_MAX_CONCURRENT_CONNECTS),
      options.connectionTimeoutMs,
      () =>
        new Error(
          `no connection to a tenant database free under the connection budget (${options.connectionBudget}) within ${options.connectionTimeoutMs} ms`,
        ),
      this.scramKeys,
    );
    const caps = options.maxLeasesPerTenantByTier;
    const limits = (tier: TierName) => {
      const maxLeases = caps?.[tier] ?? Infinity;
      return { maxLeases, maxWaiters: options.maxLeaseWaitersPerTenant ?? maxLeases };
    };
    const registry = this.dataSources;
    this.fair = new FairShares(
      { starter: limits('starter'), pro: limits('pro'), enterprise: limits('enterprise') },
      options.leaseWaitMs ?? DEFAULT_LEASE_WAIT_MS,
      () => registry.gate.waiting > 0 || registry.waiting > 0,
    );
    this.sweepTimer = setInterval(() => this.closeIdle(), sweepPeriodMs(options.idleTimeoutMs));
    this.sweepTimer.unref();
    if (options.routeSignals !== undefined) {
      this.signals = new TenantRouteSignals(
        options.routeSignals,
        (tenantId) => this.routeChanged(tenantId),
        () => this.refreshAllSoon(),
        log,
      );
      this.signals.start();
    }
  }

  /**
   * A lease on the tenant's database (its initialised DataSource, or its pool host's): that
   * DataSource is not closed (evicted, idled out, rebuilt, or by close() before its deadline)
   * until `release()` is called. Release exactly when the work is done; a second call does
   * nothing.
   * While the tenant's writes are paused (a move's cut-over) it waits, taking nothing, for them to
   * resume, at most `movePauseWaitMs`.
   * @throws TenantAccessError TENANT_NOT_FOUND, TENANT_NOT_ACTIVE, TENANT_DATABASE_UNAVAILABLE,
   * TENANT_MOVING.
   */
  acquire(tenantId: string): Promise<TenantLease> {
    const now = this.now();
    const warm = this.warmLease(tenantId, now);
    if (warm !== undefined) return Promise.resolve(warm);
    return this.acquireCold(tenantId);
  }

  /**
   * Runs `work` on the tenant's DataSource under a lease. When the work fails with 28P01 (the
   * password was rotated), the secret is refetched once for all concurrent callers, the
   * DataSource rebuilt (the old one closes once its other work is done) and `work` run once
   * more; so `work` must be safe to repeat after such a failure (a transaction is). A write the
   * database refuses with 25006 (the tenant moved away from it) is not retried: it fails as
   * TENANT_MOVING and the tenant is looked up again at once.
   * @throws TenantAccessError as `acquire`; TenantLeaseError POOLED_TENANT_NEEDS_TRANSACTION
   * for a pooled tenant (use `transaction`); otherwise what `work` throws.
   */
  async run<T>(tenantId: string, work: (dataSource: DataSource) => Promise<T>): Promise<T> {
    const lease = this.warmLease(tenantId, this.now()) ?? (await this.acquireCold(tenantId));
    try {
      return await work(lease.dataSource);
    } catch (error) {
      if (isWriteRefusedAsMoved(error)) throw this.reportWriteRefused(tenantId, error);
      if (!isAuthenticationFailure(error)) throw error;
    } finally {
      lease.release();
    }
    await this.recoverFromAuthFailure(lease.slot);
    const retry = await this.acquire(tenantId);
    try {
      return await work(retry.dataSource);
    } finally {
      retry.release();
    }
  }

  /**
   * Runs `work` in one transaction on the tenant's database under a lease, in every placement
   * ({@link TenantLease.transaction}: a pooled tenant's is set first). A 28P01 is handled as
   * `run` handles it (the transaction never began, so it is run once more).
   * @throws TenantAccessError as `acquire`; otherwise what `work` throws.
   */
  async transaction<T>(tenantId: string, work: (manager: EntityManager) => Promise<T>): Promise<T> {
    const lease = this.warmLease(tenantId, this.now()) ?? (await this.acquireCold(tenantId));
    try {
      return await lease.transaction(work);
    } catch (error) {
      if (!isAuthenticationFailure(error)) throw error;
    } finally {
      lease.release();
    }
    await this.recoverFromAuthFailure(lease.slot);
    const retry = await this.acquire(tenantId);
    try {
      return await retry.transaction(work);
    } finally {
      retry.release();
    }
  }

  /**
   * Runs `work` in one READ ONLY transaction on the tenant's restore copy of restore change `run`
   * (a copy of its data restored beside it: `POST /v1/tenants/{id}/restores`), as the copy's
   * read-only login. Only this call reaches a copy: the tenant's own leases (`acquire`, `run`,
   * `transaction`, `getDataSource`) read the tenant's own secret alone. The tenant must be
   * ACTIVE, and the copy AVAILABLE and before its `expiresAt` (looked up in the directory, cached
   * for `statusTtlMs`). The copy's DataSource is its own, bounded by `restoreCopies` and counted
   * apart from the tenants', so it never takes a tenant's connections; it opens on first use (its
   * reader secret read in the copy's region) and closes when idle or once the copy expires. A
   * write in `work` fails with the database's 25006, passed through as it is (not TENANT_MOVING:
   * nothing moved). `work` is not retried.
   * @throws TenantAccessError TENANT_NOT_FOUND, TENANT_NOT_ACTIVE, RESTORE_COPY_NOT_FOUND (no copy
   * of that run), RESTORE_COPY_EXPIRED (expired, being removed or removed),
   * TENANT_DATABASE_UNAVAILABLE (the copy cannot be opened now, or `restoreCopies.maxOpen` are in
   * use); otherwise what `work` throws.
   */
  async readRestoreCopy<T>(
    tenantId: string,
    run: number,
    work: (manager: EntityManager) => Promise<T>,
  ): Promise<T> {
    if (this.closing !== undefined) throw routerClosed(tenantId);
    const tenant = await this.statuses.known(this.stateOf(tenantId));
    return this.restoreCopies.read(tenant, run, work);
  }

  /**
   * The tenant's initialised DataSource, without a lease. It is kept open for
   * `getDataSourceGraceMs` (default 1 s) after the call and, after that, for as long as its pg
   * pool has a client checked out or a request waiting (a query or transaction in flight); but
   * between two queries more than the grace apart it may be closed to make room, and later
   * queries then fail. Use it for a query or two right away; hold work across awaits with
   * `acquire` or `run`. Not for pooled tenants, whose work runs only in a lease's transactions.
   * @throws TenantAccessError as `acquire`; TenantLeaseError POOLED_TENANT_NEEDS_TRANSACTION
   * for a pooled tenant.
   */
  getDataSource(tenantId: string): Promise<DataSource> {
    const now = this.now();
    const state = this.warmState(tenantId, now);
    if (state !== undefined) {
      const slot = state.target!.slot!;
      if (slot.placement === 'pool') return Promise.reject(pooledTenantNeedsTransaction(tenantId));
      this.dataSources.handOut(slot, now, this.graceMs);
      return Promise.resolve(slot.dataSource);
    }
    return this.acquireCold(tenantId).then((lease) => {
      try {
        const dataSource = lease.dataSource;
        this.dataSources.handOut(lease.slot, this.now(), this.graceMs);
        return dataSource;
      } finally {
        lease.release();
      }
    });
  }

  /**
   * The tenant's tier, from the status cache when it is fresh, else looked up (as `acquire` would,
   * and shared with it). For limits decided before a lease is taken (the request rate).
   * @throws TenantAccessError TENANT_NOT_FOUND, TENANT_NOT_ACTIVE, or as the lookup fails.
   */
  tierOf(tenantId: string): TierName | Promise<TierName> {
    const state = this.tenants.get(tenantId);
    const entry = state?.entry;
    if (entry?.status === 'ACTIVE' && this.now() < state!.statusExpiresAt) return entry.tier;
    if (this.closing !== undefined) return Promise.reject(routerClosed(tenantId));
    return this.statuses.known(this.stateOf(tenantId)).then((active) => active.tier);
  }

  /**
   * Tells the router that the tenant's database refused a write with 25006, as a moving tenant's
   * old database does once its writes are paused there or it is served elsewhere: the tenant's
   * cached entry is expired and looked up again at once, so the next call waits out the pause or
   * opens the new route. Returns the TENANT_MOVING error to fail the call with (503, Retry-After
   * 1). `run`, `transaction` and a lease's `transaction` call it themselves.
   */
  reportWriteRefused(tenantId: string, cause?: unknown): TenantAccessError {
    this.counts.movingRefusals++;
    const state = this.tenants.get(tenantId);
    if (state !== undefined && this.closing === undefined) this.statuses.expire(state);
    this.log.warn(
      { tenantId },
      'a tenant database refused a write as a moved tenant’s; looking the tenant up',
    );
    return tenantMoving(
      tenantId,
      'its database refused the write: the tenant is served from elsewhere now',
      cause,
    );
  }

  stats(): TenantRouterStats {
    const d = this.dataSources;
    const c = this.fair.counts;
    return {
      open: d.open,
      openConnections: d.gate.live,
      peakConnections: d.gate.peak,
      connectionsWaiting: d.gate.waiting,
      connectionWaits: d.gate.waited,
      leases: d.leases,
      waiting: d.waiting,
      shares: { starter: { ...c.starter }, pro: { ...c.pro }, enterprise: { ...c.enterprise } },
      evictions: d.evictions,
      idleClosed: d.idleClosed,
      coldStarts: this.counts.coldStarts,
      initialisations: this.counts.initialisations,
      initialisationFailures: this.counts.initialisationFailures,
      rotations: this.counts.rotations,
      secretFetches: this.credentials.fetches,
      scramDerivations: this.scramKeys.derivations,
      scramKeyHits: this.scramKeys.hits,
      moves: {
        pauseWaits: this.statuses.pauseWaits,
        refusals: this.counts.movingRefusals + this.statuses.pauseTimeouts,
        routeSwitches: this.counts.routeSwitches,
        signals: this.signals?.received ?? 0,
      },
      initialisationMs: this.latencies.slice(),
      restoreCopies: {
        open: this.restoreCopies.open,
        connections: this.restoreCopies.connections,
        leases: this.restoreCopies.leases,
        refusals: this.restoreCopies.refusals,
      },
    };
  }

  /**
   * The `n` tenants (at most 64) that held leases longest since the previous call (a metrics
   * scrape), most first: a bounded view, whatever the number of tenants. Each call starts a new
   * interval.
   */
  topTenantsByLeaseTime(n = 10): TenantLeaseTime[] {
    return takeTopByLeaseTime(this.shareEntries(), n);
  }

  private *shareEntries(): Iterable<[string, TenantShare]> {
    for (const [id, state] of this.tenants) yield [id, state.share];
  }

  /**
   * Closes the DataSources unused for `idleTimeoutMs` (and idle now); runs on a timer, exposed
   * for tests. Also forgets tenants with nothing cached any more. Returns how many it closed.
   */
  closeIdle(): number {
    const closed = this.dataSources.closeIdle(this.options.idleTimeoutMs) + this.restoreCopies.closeIdle();
    const now = this.now();
    for (const [id, state] of this.tenants) {
      if (!forgettable(state, now)) continue;
      this.tenants.delete(id);
      // Its target stays while it holds anything: the tenant's next state binds to it again.
      if (state.target !== undefined) state.target.users--;
    }
    for (const [key, target] of this.targets) if (targetForgettable(target, now)) this.targets.delete(key);
    return closed;
  }

  /**
   * Refuses new calls, then destroys every DataSource once its leases are released and its
   * queries done, or when `closeTimeoutMs` (default 10 s) has passed, whichever comes first
   * (then running work is cut off, and that is logged). getDataSource graces no longer hold a
   * DataSource open. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    clearInterval(this.sweepTimer);
    const timeoutMs = this.options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    const openings: Promise<unknown>[] = [];
    for (const target of this.targets.values()) if (target.opening) openings.push(target.opening);
    for (const state of this.tenants.values()) {
      this.fair.rejectAll(state.share, routerClosed(state.id));
      this.statuses.rejectPauseWaiters(state, routerClosed(state.id));
    }
    const signals = this.signals?.close();
    const closing = this.dataSources.closeAll(timeoutMs, routerClosed());
    const copiesClosing = this.restoreCopies.closeAll(timeoutMs);
    // An opening that finishes from now on destroys what it opened itself; wait for them only
    // up to the same deadline (one stuck in a lookup must not hold the shutdown).
    await withTimeout(Promise.allSettled(openings), timeoutMs).catch(() =>
      this.log.warn({ openings: openings.length }, 'closing with tenant DataSources still opening'),
    );
    await closing;
    await copiesClosing;
    await signals;
  }

  // --- acquisition ------------------------------------------------------------------------

  /**
   * The tenant's state when the open DataSource that serves it (`state.target.slot`) and
   * everything needed are cached and fresh; no awaits.
   */
  private warmState(tenantId: string, now: number): TenantState | undefined {
    if (this.closing !== undefined) return undefined;
    const state = this.tenants.get(tenantId);
    if (state === undefined || now >= state.statusExpiresAt) return undefined;
    const target = state.target;
    const slot = target?.slot;
    // Paused writes wait on the cold path.
    if (slot === undefined || state.entry?.status !== 'ACTIVE' || state.entry.writesPaused) return undefined;
    if (this.statuses.dueForRefresh(state, now)) this.statuses.refresh(state);
    this.refreshCredentialsIfDue(target!, slot, now);
    return state;
  }

  /** A lease without awaits: warm, and the tenant under its lease cap with nobody waiting. */
  private warmLease(tenantId: string, now: number): RouterLease | undefined {
    const state = this.warmState(tenantId, now);
    if (state === undefined) return undefined;
    const tier = state.entry!.tier;
    if (!this.fair.tryTake(state.share, tier)) return undefined;
    return this.lease(state, state.target!.slot!, tier, now);
  }

  /**
   * The secret's TTL ran out while the DataSource serves: fetch it again in the background and,
   * when it names other credentials (a rotation finished), retire the DataSource. Its work in
   * flight finishes on the old connections; the next call opens one with the new credentials.
   * A fetch that fails keeps the DataSource and tries again after `failureBackoffMs`.
   */
  private refreshCredentialsIfDue(target: DataSourceTarget, slot: TenantSlot, now: number): void {
    if (
      now < target.credentialsExpireAt ||
      target.credentialsFetch !== undefined ||
      target.rotation !== undefined
    )
      return;
    this.credentials.fetch(target).then(
      (fresh) => {
        const used = target.slotCredentials;
        if (target.slot !== slot || !used || sameCredentials(used, fresh)) return;
        this.counts.rotations++;
        this.log.warn(
          { ...target.label },
          'tenant secret changed; draining the DataSource for new credentials',
        );
        this.dataSources.retire(slot);
      },
      (error: unknown) => {
        target.credentialsExpireAt = this.now() + this.options.failureBackoffMs;
        this.log.warn(
          { ...target.label, err: error },
          'tenant secret could not be refreshed; keeping the current one',
        );
      },
    );
  }

  /**
   * Everything that may wait: the status, the DataSource, opened if need be, then a place in the
   * tenant's share (it waits behind the tenant's own callers only). The opening comes first, so
   * a cold start is not counted against the lease wait and holds no place in the share.
   */
  private async acquireCold(tenantId: string): Promise<RouterLease> {
    if (this.closing !== undefined) throw routerClosed(tenantId);
    const state = this.stateOf(tenantId);
    const { tier } = await this.statuses.active(state);
    await this.withOpenSlot(state, () => undefined);
    await this.fair.take(state.share, tier, (retryAfterMs) => this.busy(state, tier, retryAfterMs));
    try {
      // Usually the one just opened; it may have been retired while this waited for a place.
      return await this.withOpenSlot(state, (slot) => this.lease(state, slot, tier, this.now()));
    } catch (error) {
      this.fair.give(state.share, tier);
      throw error;
    }
  }

  /**
   * Calls `use` with the tenant's open DataSource, opened (once for concurrent callers) if need
   * be, in the same turn as it is seen not retired.
   */
  private async withOpenSlot<T>(state: TenantState, use: (slot: TenantSlot) => T): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (this.closing !== undefined) throw routerClosed(state.id);
      const entry = await this.statuses.active(state);
      // Bound by the lookup that answered `entry`, unless the tenant has no place yet.
      const target = state.target;
      if (target === undefined)
        throw tenantUnavailable(state.id, 'it is not placed on a host yet', RETRY_AFTER_MS);
      let slot = target.slot;
      if (slot === undefined) {
        this.counts.coldStarts++;
        slot = await this.openSlot(target, entry);
      } else this.refreshCredentialsIfDue(target, slot, this.now());
      if (!slot.retired) return use(slot);
      // Retired between opening and now: closing, status changed, or evicted; look again.
      if (attempt === ACQUIRE_ATTEMPTS)
        throw tenantUnavailable(state.id, 'its DataSource kept closing while being opened', RETRY_AFTER_MS);
    }
  }

  private stateOf(tenantId: string): TenantState {
    let state = this.tenants.get(tenantId);
    if (state === undefined) {
      state = newTenantState(tenantId);
      this.tenants.set(tenantId, state);
    }
    return state;
  }

  /** A lease on `slot`; the caller holds a place in the tenant's share, counted under `tier`. */
  private lease(state: TenantState, slot: TenantSlot, tier: TierName, now: number): RouterLease {
    this.dataSources.lease(slot, now);
    return new RouterLease(
      state.id,
      slot.placement,
      slot,
      state.entry?.schemaVersion ?? null,
      state.share,
      tier,
      now,
      this.releaseLease,
      this.rotateSlot,
      this.writeRefused,
    );
  }

  /**
   * After every lookup: binds the tenant to what serves its placement (its own target, or its
   * pool host's, found or made), and retires its own DataSource once it is seen not ACTIVE or
   * elsewhere, or at a higher route version than it was opened for (a move switched the tenant's
   * route: its credentials are dropped too). A pool host's DataSource is never retired for one
   * tenant's status or move: the tenant's binding to it ends, and the host serves its others on.
   */
  private bind(state: TenantState): void {
    const entry = state.entry;
    const key = entry ? targetKeyOf(entry) : undefined;
    const bound = state.target;
    if (bound !== undefined && bound.key !== key) {
      state.target = undefined;
      bound.users--;
      // A tenant's own DataSource serves nobody else once the tenant is gone or has moved.
      if (!isShared(bound) && bound.slot !== undefined) this.retireOwn(state, bound.slot, 'moved or gone');
    }
    if (!entry || !key) return;
    let target = state.target;
    if (target === undefined) {
      target = this.targets.get(key);
      if (target === undefined) {
        target = newTarget(key, entry, entry.placement!);
        this.targets.set(key, target);
      }
      target.users++;
      state.target = target;
    }
    target.entry = entry;
    if (!isShared(target) && entry.routeVersion > target.routeVersion) this.switchRoute(target, entry);
    if (entry.status !== 'ACTIVE' && !isShared(target) && target.slot !== undefined)
      this.retireOwn(state, target.slot, entry.status);
  }

  /**
   * A tenant's own target seen at a higher route version: its DataSource (if open) is retired, to
   * close once its leases end, and its cached or pending credentials are dropped, so the next
   * lease opens the new route with a fresh read of the secret (in the tenant's region now).
   */
  private switchRoute(target: DataSourceTarget, entry: TenantDirectoryEntry): void {
    this.log.debug?.(
      { tenantId: entry.id, from: target.routeVersion, to: entry.routeVersion },
      'tenant route switched; reopening on its new route',
    );
    target.routeVersion = entry.routeVersion;
    this.credentials.drop(target);
    target.failedUntil = 0;
    target.failure = undefined;
    if (target.slot !== undefined) {
      this.counts.routeSwitches++;
      this.dataSources.retire(target.slot);
    }
  }

  /** A route signal: the tenant is looked up at once, if this process knows it. */
  private routeChanged(tenantId: string): void {
    if (this.closing !== undefined) return;
    const state = this.tenants.get(tenantId);
    if (state !== undefined) this.statuses.expire(state);
  }

  /** Route signals heard again after a loss: those missed meanwhile are made up by refreshing soon. */
  private refreshAllSoon(): void {
    for (const state of this.tenants.values()) state.statusRefreshAt = 0;
  }

  private retireOwn(state: TenantState, slot: TenantSlot, why: string): void {
    this.log.debug?.({ tenantId: state.id, why }, 'closing the DataSource of a tenant not ACTIVE');
    this.dataSources.retire(slot);
  }

  private busy(state: TenantState, tier: TierName, retryAfterMs: number): TenantAccessError {
    return new TenantAccessError(
      TenantAccessErrorCode.TENANT_BUSY,
      `tenant ${state.id} holds every concurrent lease its tier (${tier}) allows; retry shortly`,
      { tenantId: state.id, retryAfterMs: Math.max(1, Math.ceil(retryAfterMs)) },
    );
  }

  // --- status -----------------------------------------------------------------------------

  // --- opening ----------------------------------------------------------------------------

  /**
   * The target's DataSource, opened once for concurrent callers (of every tenant it serves). A
   * refusal names `entry`'s tenant, the one asking.
   */
  private openSlot(target: DataSourceTarget, entry: TenantDirectoryEntry): Promise<TenantSlot> {
    if (target.opening !== undefined) return target.opening;
    const now = this.now();
    if (now < target.failedUntil)
      return Promise.reject(
        tenantUnavailable(
          entry.id,
          'its database failed to open moments ago',
          target.failedUntil - now,
          target.failure,
        ),
      );
    const opening = this.open(target, entry).finally(() => {
      if (target.opening === opening) target.opening = undefined;
    });
    target.opening = opening;
    return opening;
  }

  private async open(target: DataSourceTarget, entry: TenantDirectoryEntry): Promise<TenantSlot> {
    const shared = isShared(target);
    const routeVersion = target.routeVersion;
    const poolSize = shared ? this.poolSizePerHost : this.options.poolSizeByTier[entry.tier];
    let reserved = false;
    let dataSource: DataSource;
    try {
      if (!(poolSize >= 1)) throw new Error(`no pool size is configured for tier ${entry.tier}`);
      const startup = startupOptions(target.placement, entry.id);
      const credentials = await this.credentials.forOpening(target);
      if (this.closing !== undefined) throw routerClosed(entry.id);
      await this.dataSources.reserve(this.options.connectionTimeoutMs, () =>
        tenantUnavailable(entry.id, 'no room for another DataSource (maxDataSources)', RETRY_AFTER_MS),
      );
      reserved = true;
      dataSource = await this.initialise(target, startup, poolSize, credentials);
      if (this.closing !== undefined) {
        await this.dataSources.destroyDataSource(target.label, dataSource);
        throw routerClosed(entry.id);
      }
    } catch (error) {
      if (reserved) this.dataSources.unreserve();
      // No room, or closing: nothing wrong with this tenant's database.
      if (error instanceof TenantAccessError) throw error;
      target.failedUntil = this.now() + this.options.failureBackoffMs;
      target.failure = error;
      this.log.warn({ ...target.label, err: error }, 'tenant database could not be opened');
      throw tenantUnavailable(
        entry.id,
        shared
          ? `the pool database of ${describeTarget(target)} could not be opened`
          : 'its database could not be opened',
        this.options.failureBackoffMs,
        error,
      );
    }
    target.failedUntil = 0;
    target.failure = undefined;
    const slot = this.dataSources.add(target.key, target.label, target.placement.kind, dataSource, poolSize);
    target.slot = slot;
    target.slotCredentials = target.credentials;
    // A tenant's own, its tenant seen not ACTIVE while this was opening: close it; the callers
    // will see the status.
    if (!shared && target.entry.status !== 'ACTIVE') this.dataSources.retire(slot);
    // Its tenant's route switched while this was opening: it may reach the old place.
    else if (target.routeVersion !== routeVersion) this.dataSources.retire(slot);
    return slot;
  }

  /** Initialises a DataSource; a 28P01 with a cached secret refetches it and tries once more. */
  private async initialise(
    target: DataSourceTarget,
    startup: string,
    poolSize: number,
    first: { credentials: TenantAppCredentials; fresh: boolean },
  ): Promise<DataSource> {
    let { credentials, fresh } = first;
    for (;;) {
      const dataSource = this.newDataSource(
        tenantDataSourceOptions(
          credentials,
          startup,
          poolSize,
          this.options,
          (error) => this.log.warn({ ...target.label, err: error }, 'a pooled tenant connection failed'),
          this.gatedClient,
        ),
      );
      this.counts.initialisations++;
      const started = this.now();
      try {
        await dataSource.initialize();
        this.recordLatency(this.now() - started);
        return dataSource;
      } catch (error) {
        this.counts.initialisationFailures++;
        await endLeftoverPool(dataSource).catch(() => undefined);
        if (!isAuthenticationFailure(error)) throw error;
        this.credentials.forget(target);
        if (fresh) throw error;
        this.log.warn({ ...target.label }, 'tenant database refused the cached secret; refetching it');
        credentials = await this.credentials.fetch(target);
        fresh = true;
      }
    }
  }

  private recordLatency(ms: number): void {
    if (this.latencies.length === LATENCY_SAMPLES) this.latencies.shift();
    this.latencies.push(ms);
  }

  // --- credentials and rotation -----------------------------------------------------------

  /**
   * After `rejected` refused its credentials: retire it and refetch the secret (a pool host's for
   * its DataSource), once for every caller that saw the same DataSource fail, whichever of its
   * tenants they serve. A caller whose DataSource was already replaced just retries on the new one.
   */
  private recoverFromAuthFailure(rejected: TenantSlot): Promise<void> {
    const target = this.targets.get(rejected.key);
    if (target === undefined) return Promise.resolve();
    if (target.rotation !== undefined) return target.rotation;
    if (target.slot !== rejected) return Promise.resolve();
    this.counts.rotations++;
    this.log.warn(
      { ...target.label },
      'tenant database refused its credentials; refetching the secret and reconnecting',
    );
    this.dataSources.retire(rejected);
    this.credentials.forget(target);
    const rotation = this.credentials.fetch(target).then(
      () => undefined,
      (error: unknown) => {
        throw tenantUnavailable(
          target.entry.id,
          `the secret of ${describeTarget(target)} could not be refetched`,
          RETRY_AFTER_MS,
          error,
        );
      },
    );
    const shared = rotation.finally(() => {
      if (target.rotation === shared) target.rotation = undefined;
    });
    target.rotation = shared;
    return shared;
  }
}

function sweepPeriodMs(idleTimeoutMs: number): number {
  return Math.min(5_000, Math.max(50, Math.floor(idleTimeoutMs / 4)));
}
