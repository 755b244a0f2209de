import { withTimeout } from '@silo/core/async/with-timeout';
import type { DataSource, DataSourceOptions, EntityManager } from 'typeorm';
import {
  endLeftoverPool,
  poolConnections,
  restoreCopyStartupOptions,
  tenantDataSourceOptions,
} from './tenant-data-source';
import {
  restoreCopyExpired,
  restoreCopyNotFound,
  routerClosed,
  TenantAccessError,
  tenantUnavailable,
} from './tenant-router.errors';
import type {
  RestoreCopyEntry,
  TenantCredentialSource,
  TenantDirectory,
  TenantDirectoryEntry,
  TenantRouterLog,
  TenantRouterOptions,
} from './tenant-router.types';
import { inTransaction } from './tenant-transaction';

/** `restoreCopies.maxOpen` unset. */
export const DEFAULT_MAX_OPEN_RESTORE_COPIES = 2;
/** `restoreCopies.poolSize` unset. */
export const DEFAULT_RESTORE_COPY_POOL_SIZE = 2;
/** The `application_name` of a restore copy's connections: told apart from the tenants' in pg_stat_activity. */
export const RESTORE_COPY_APPLICATION_NAME = 'silo-tenant-router-restore-copy';
const RETRY_AFTER_MS = 1_000;
const DRAIN_POLL_MS = 25;
const ATTEMPTS = 2;

/** What the router knows of one restore copy (a tenant and a run). */
interface CopyState {
  readonly tenantId: string;
  readonly run: number;
  /** undefined until looked up; null when the tenant has no copy of that run. */
  entry: RestoreCopyEntry | null | undefined;
  entryExpiresAt: number;
  lookup: Promise<RestoreCopyEntry | null> | undefined;
  /** Its open DataSource, handed out; never a retired one. */
  open: OpenCopy | undefined;
  opening: Promise<OpenCopy> | undefined;
  failedUntil: number;
  failure: unknown;
}

/** A copy's initialised DataSource. */
interface OpenCopy {
  readonly state: CopyState;
  readonly dataSource: DataSource;
  leases: number;
  lastUsedAt: number;
  /** No longer handed out; destroyed once its leases end. */
  retired: boolean;
}

/**
 * The restore copies the router leases (`TenantRouter.readRestoreCopy`): a copy is looked up in
 * the directory (`findRestoreCopy`, cached for `statusTtlMs`, one lookup at a time per copy) and
 * served only while AVAILABLE and before its `expiresAt`; its reader secret is read
 * (`fetchRestoreCopy`, in the copy's region) when its DataSource opens, and never cached past it.
 * Each copy's DataSource is its own, of `restoreCopies.poolSize` connections, at most
 * `restoreCopies.maxOpen` of them open: none of this passes the tenants' connection gate or
 * counts against `maxDataSources` or a tenant's share, so a copy never takes a tenant's
 * connections, and a tenant's leases never reach a copy. Work runs in READ ONLY transactions.
 * A DataSource unused for `idleTimeoutMs`, or whose copy expired or was seen going, is closed
 * once its leases end. Internal to the router.
 */
export class RestoreCopies {
  leases = 0;
  refusals = 0;
  private readonly states = new Map<string, CopyState>();
  /** Every DataSource not being destroyed, least recently used first (Map order, touched on lease). */
  private readonly live = new Set<OpenCopy>();
  private readonly destroys = new Set<Promise<void>>();
  private openings = 0;
  private closing = false;
  private readonly maxOpen: number;
  private readonly poolSize: number;

  constructor(
    private readonly directory: TenantDirectory,
    private readonly source: TenantCredentialSource,
    private readonly options: TenantRouterOptions,
    private readonly now: () => number,
    private readonly newDataSource: (options: DataSourceOptions) => DataSource,
    private readonly log: TenantRouterLog,
  ) {
    this.maxOpen = options.restoreCopies?.maxOpen ?? DEFAULT_MAX_OPEN_RESTORE_COPIES;
    this.poolSize = options.restoreCopies?.poolSize ?? DEFAULT_RESTORE_COPY_POOL_SIZE;
  }

  get open(): number {
    return this.live.size;
  }

  /** Live connections of the copies' DataSources. */
  get connections(): number {
    let connections = 0;
    for (const copy of this.live) connections += poolConnections(copy.dataSource);
    return connections;
  }

  /**
   * Runs `work` in one READ ONLY transaction on `tenant`'s restore copy `run` (the caller has
   * checked the tenant is ACTIVE).
   */
  async read<T>(
    tenant: TenantDirectoryEntry,
    run: number,
    work: (manager: EntityManager) => Promise<T>,
  ): Promise<T> {
    if (this.directory.findRestoreCopy === undefined || this.source.fetchRestoreCopy === undefined)
      throw new Error(
        'the router reads no restore copies: its tenant directory needs findRestoreCopy and its credential source fetchRestoreCopy (ControlPlaneTenantDirectory and SecretsManagerCredentialSource have both)',
      );
    if (!Number.isSafeInteger(run) || run < 1) {
      this.refusals++;
      throw restoreCopyNotFound(tenant.id, run);
    }
    for (let attempt = 1; ; attempt++) {
      if (this.closing) throw routerClosed(tenant.id);
      const state = this.stateOf(tenant.id, run);
      const copy = await this.servable(state);
      const open = await this.openOf(state, tenant, copy);
      // Retired while this waited (expired, evicted, closing): look again.
      if (open.retired) {
        if (attempt === ATTEMPTS)
          throw tenantUnavailable(
            tenant.id,
            `its restore copy ${run} kept closing while being opened`,
            RETRY_AFTER_MS,
          );
        continue;
      }
      return this.lease(open, work);
    }
  }

  /**
   * Closes the DataSources unused for `idleTimeoutMs` and those whose copy expired (once their
   * leases end), and forgets copies with nothing cached. Returns how many it closed.
   */
  closeIdle(): number {
    const now = this.now();
    const wallNow = Date.now();
    let closed = 0;
    for (const copy of this.live) {
      const expired = copy.state.entry != null && copy.state.entry.expiresAt.getTime() <= wallNow;
      if (expired || (copy.leases === 0 && now - copy.lastUsedAt >= this.options.idleTimeoutMs)) {
        this.retire(copy);
        closed++;
      }
    }
    for (const [key, state] of this.states)
      if (
        state.open === undefined &&
        state.opening === undefined &&
        state.lookup === undefined &&
        now >= state.entryExpiresAt &&
        now >= state.failedUntil
      )
        this.states.delete(key);
    return closed;
  }

  /**
   * Refuses new leases, then destroys every copy's DataSource once its leases end, or all that
   * remain after `timeoutMs`.
   */
  async closeAll(timeoutMs: number): Promise<void> {
    this.closing = true;
    const openings: Promise<unknown>[] = [];
    for (const state of this.states.values()) if (state.opening) openings.push(state.opening);
    // An opening that finishes from now on destroys what it opened itself.
    await withTimeout(Promise.allSettled(openings), timeoutMs).catch(() => undefined);
    for (const copy of [...this.live]) this.retire(copy);
    const deadline = this.now() + timeoutMs;
    while (this.live.size > 0 && this.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    for (const copy of [...this.live]) {
      this.log.warn(
        { tenantId: copy.state.tenantId, run: copy.state.run, leases: copy.leases },
        'destroying a restore copy DataSource still in use: the close deadline passed',
      );
      this.destroy(copy);
    }
    await Promise.allSettled([...this.destroys]);
  }

  private async lease<T>(open: OpenCopy, work: (manager: EntityManager) => Promise<T>): Promise<T> {
    open.leases++;
    this.leases++;
    open.lastUsedAt = this.now();
    // Most recently used last.
    this.live.delete(open);
    this.live.add(open);
    try {
      return await inTransaction(open.dataSource, undefined, work, true);
    } finally {
      open.leases--;
      this.leases--;
      open.lastUsedAt = this.now();
      if (open.retired && open.leases === 0) this.destroy(open);
    }
  }

  private stateOf(tenantId: string, run: number): CopyState {
    const key = `${tenantId}/${run}`;
    let state = this.states.get(key);
    if (state === undefined) {
      state = {
        tenantId,
        run,
        entry: undefined,
        entryExpiresAt: 0,
        lookup: undefined,
        open: undefined,
        opening: undefined,
        failedUntil: 0,
        failure: undefined,
      };
      this.states.set(key, state);
    }
    return state;
  }

  /** The copy's entry when it may be served: AVAILABLE and not expired; else its refusal. */
  private async servable(state: CopyState): Promise<RestoreCopyEntry> {
    let entry = state.entry;
    if (entry === undefined || this.now() >= state.entryExpiresAt) entry = await this.lookUp(state);
    if (entry === null) {
      this.refuse(state);
      throw restoreCopyNotFound(state.tenantId, state.run);
    }
    if (entry.status !== 'AVAILABLE' || entry.expiresAt.getTime() <= Date.now()) {
      this.refuse(state);
      throw restoreCopyExpired(state.tenantId, state.run, entry.status, entry.expiresAt);
    }
    return entry;
  }

  private refuse(state: CopyState): void {
    this.refusals++;
    if (state.open !== undefined) this.retire(state.open);
  }

  private lookUp(state: CopyState): Promise<RestoreCopyEntry | null> {
    if (state.lookup === undefined) {
      const lookup = this.find(state).finally(() => {
        if (state.lookup === lookup) state.lookup = undefined;
      });
      state.lookup = lookup;
    }
    return state.lookup;
  }

  private async find(state: CopyState): Promise<RestoreCopyEntry | null> {
    let entry: RestoreCopyEntry | null;
    try {
      entry = await withTimeout(
        this.directory.findRestoreCopy!(state.tenantId, state.run),
        this.options.connectionTimeoutMs,
      );
    } catch (error) {
      throw tenantUnavailable(
        state.tenantId,
        'the restore copies could not be read from the tenant directory',
        RETRY_AFTER_MS,
        error,
      );
    }
    // Another tenant's or another run's answer is no answer for this one.
    if (entry !== null && (entry.tenantId !== state.tenantId || entry.run !== state.run)) entry = null;
    state.entry = entry;
    state.entryExpiresAt = this.now() + this.options.statusTtlMs;
    return entry;
  }

  /** The copy's open DataSource, opened (once for concurrent callers) if need be. */
  private openOf(state: CopyState, tenant: TenantDirectoryEntry, copy: RestoreCopyEntry): Promise<OpenCopy> {
    if (state.open !== undefined) return Promise.resolve(state.open);
    if (state.opening !== undefined) return state.opening;
    const now = this.now();
    if (now < state.failedUntil)
      return Promise.reject(
        tenantUnavailable(
          tenant.id,
          `its restore copy ${state.run} failed to open moments ago`,
          state.failedUntil - now,
          state.failure,
        ),
      );
    const opening = this.openCopy(state, tenant, copy).finally(() => {
      if (state.opening === opening) state.opening = undefined;
    });
    state.opening = opening;
    return opening;
  }

  private async openCopy(
    state: CopyState,
    tenant: TenantDirectoryEntry,
    copy: RestoreCopyEntry,
  ): Promise<OpenCopy> {
    this.makeRoom(tenant.id);
    this.openings++;
    try {
      const credentials = await withTimeout(
        this.source.fetchRestoreCopy!(tenant, copy),
        this.options.connectionTimeoutMs,
        `the reader secret of restore copy ${copy.run} was not fetched within ${this.options.connectionTimeoutMs} ms`,
      );
      if (this.closing) throw routerClosed(tenant.id);
      const base = tenantDataSourceOptions(
        credentials,
        // A copy holds one tenant's data: its tables where its login's search path says, its rows the tenant's.
        restoreCopyStartupOptions(tenant.id),
        this.poolSize,
        this.options,
        (error) =>
          this.log.warn(
            { tenantId: tenant.id, run: copy.run, err: error },
            'a restore copy connection failed',
          ),
      );
      const dataSource = this.newDataSource({
        ...base,
        extra: { ...(base.extra as object), application_name: RESTORE_COPY_APPLICATION_NAME },
      });
      try {
        await dataSource.initialize();
      } catch (error) {
        await endLeftoverPool(dataSource).catch(() => undefined);
        throw error;
      }
      const open: OpenCopy = { state, dataSource, leases: 0, lastUsedAt: this.now(), retired: false };
      this.live.add(open);
      state.failedUntil = 0;
      state.failure = undefined;
      if (this.closing) {
        this.retire(open);
        throw routerClosed(tenant.id);
      }
      state.open = open;
      return open;
    } catch (error) {
      if (error instanceof TenantAccessError) throw error;
      state.failedUntil = this.now() + this.options.failureBackoffMs;
      state.failure = error;
      // The copy may be going (its login dropped): the next call reads the directory again.
      state.entryExpiresAt = 0;
      this.log.warn({ tenantId: tenant.id, run: copy.run, err: error }, 'restore copy could not be opened');
      throw tenantUnavailable(
        tenant.id,
        `its restore copy ${copy.run} could not be opened`,
        this.options.failureBackoffMs,
        error,
      );
    } finally {
      this.openings--;
    }
  }

  /** Room for one more copy: the least recently used idle one is closed; with none idle, a refusal. */
  private makeRoom(tenantId: string): void {
    while (this.live.size + this.openings >= this.maxOpen) {
      let idle: OpenCopy | undefined;
      for (const copy of this.live)
        if (copy.leases === 0) {
          idle = copy;
          break;
        }
      if (idle === undefined)
        throw tenantUnavailable(
          tenantId,
          `no room for another restore copy (restoreCopies.maxOpen ${this.maxOpen} are in use)`,
          RETRY_AFTER_MS,
        );
      this.retire(idle);
    }
  }

  private retire(copy: OpenCopy): void {
    if (!copy.retired) {
      copy.retired = true;
      if (copy.state.open === copy) copy.state.open = undefined;
    }
    if (copy.leases === 0) this.destroy(copy);
  }

  private destroy(copy: OpenCopy): void {
    if (!this.live.delete(copy)) return;
    copy.retired = true;
    if (copy.state.open === copy) copy.state.open = undefined;
    const done = (async () => {
      try {
        if (copy.dataSource.isInitialized) await copy.dataSource.destroy();
      } catch (error) {
        this.log.warn(
          { tenantId: copy.state.tenantId, run: copy.state.run, err: error },
          'restore copy DataSource did not close cleanly',
        );
      }
    })().finally(() => this.destroys.delete(done));
    this.destroys.add(done);
  }
}
