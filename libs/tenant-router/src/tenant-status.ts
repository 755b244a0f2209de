import { withTimeout } from '@silo/core/async/with-timeout';
import {
  TenantAccessError,
  TenantAccessErrorCode,
  tenantMoving,
  tenantUnavailable,
} from './tenant-router.errors';
import type {
  TenantDirectory,
  TenantDirectoryEntry,
  TenantRouterLog,
  TenantRouterOptions,
} from './tenant-router.types';
import type { PauseWaiter, TenantState } from './tenant-state';

const STATUS_REFRESH_AHEAD = 0.75;
const RETRY_AFTER_MS = 1_000;
/** `movePauseWaitMs` unset. */
export const DEFAULT_MOVE_PAUSE_WAIT_MS = 5_000;
/** How often the directory is read again while callers wait out a tenant's pause. */
const MOVE_PAUSE_POLL_MS = 150;

/**
 * Tenants' status as the directory tells it, cached per tenant for `statusTtlMs`: one lookup at
 * a time per tenant (concurrent callers share it), bounded by `connectionTimeoutMs`, refreshed
 * in the background once three quarters of the TTL have passed so the warm path never waits.
 * Every answer stored is told to `onLookedUp`, which binds the tenant to what serves its
 * placement and retires the tenant's own DataSource once it is seen not ACTIVE or moved.
 *
 * While a tenant's writes are paused (a move's cut-over), callers wait for an entry that says
 * otherwise, at most `movePauseWaitMs` each, while the directory is read again every 150 ms (one
 * lookup at a time for all of them); past it they get TENANT_MOVING. Internal to the router.
 */
export class TenantStatuses {
  /** Callers that waited out a pause, and those refused after `movePauseWaitMs`. */
  pauseWaits = 0;
  pauseTimeouts = 0;
  private readonly pauseWaitMs: number;

  constructor(
    private readonly directory: TenantDirectory,
    private readonly options: TenantRouterOptions,
    private readonly now: () => number,
    private readonly log: TenantRouterLog,
    private readonly onLookedUp: (state: TenantState) => void,
  ) {
    this.pauseWaitMs = options.movePauseWaitMs ?? DEFAULT_MOVE_PAUSE_WAIT_MS;
  }

  /** True when the warm path should start a background refresh now. */
  dueForRefresh(state: TenantState, now: number): boolean {
    return now >= state.statusRefreshAt && state.statusLookup === undefined;
  }

  /** The tenant's entry when it may be served now: ACTIVE, its writes not paused (waited out). */
  async active(state: TenantState): Promise<TenantDirectoryEntry> {
    const entry = await this.known(state);
    return entry.writesPaused ? this.waitOutPause(state) : entry;
  }

  /** The tenant's entry when it is ACTIVE, paused or not. */
  async known(state: TenantState): Promise<TenantDirectoryEntry> {
    let entry = state.entry;
    const now = this.now();
    if (entry === undefined || now >= state.statusExpiresAt) entry = await this.lookUp(state);
    else if (now >= state.statusRefreshAt && state.statusLookup === undefined) this.refresh(state);
    return servable(state, entry);
  }

  lookUp(state: TenantState): Promise<TenantDirectoryEntry | null> {
    if (state.statusLookup === undefined) {
      const lookup = this.find(state).finally(() => {
        if (state.statusLookup === lookup) state.statusLookup = undefined;
        if (state.lookUpAgain) {
          state.lookUpAgain = false;
          this.refresh(state);
        }
      });
      state.statusLookup = lookup;
    }
    return state.statusLookup;
  }

  /**
   * Something says the tenant's route changed (a route signal, a write its database refused):
   * its cached entry is expired now and the directory read again, by a lookup that begins from
   * now on (after the one running, if any, which may have been answered before the change).
   */
  expire(state: TenantState): void {
    state.statusExpiresAt = 0;
    state.statusRefreshAt = 0;
    if (state.statusLookup === undefined) this.refresh(state);
    else state.lookUpAgain = true;
  }

  refresh(state: TenantState): void {
    this.lookUp(state).catch((error: unknown) =>
      this.log.warn({ tenantId: state.id, err: error }, 'tenant status refresh failed'),
    );
  }

  /** Fails every caller waiting out the tenant's pause (the router is closing). */
  rejectPauseWaiters(state: TenantState, error: Error): void {
    for (const waiter of state.pauseWaiters) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    state.pauseWaiters.clear();
    if (state.pausePoll !== undefined) clearTimeout(state.pausePoll);
    state.pausePoll = undefined;
  }

  private async find(state: TenantState): Promise<TenantDirectoryEntry | null> {
    let entry: TenantDirectoryEntry | null;
    try {
      entry = await withTimeout(this.directory.find(state.id), this.options.connectionTimeoutMs);
    } catch (error) {
      throw tenantUnavailable(state.id, 'the tenant directory could not be read', RETRY_AFTER_MS, error);
    }
    // Ids are compared exactly: another spelling of the same tenant (an upper-case uuid, say)
    // would otherwise get a second state and a second DataSource, and a directory that answers
    // for another tenant must never hand out that tenant's database.
    if (entry !== null && entry.id !== state.id) {
      this.log.warn(
        { tenantId: state.id, directoryId: entry.id },
        'the tenant directory answered with another id; refusing the tenant',
      );
      entry = null;
    }
    const now = this.now();
    state.entry = entry;
    // Asked for again while this one ran (the route changed since it began): not trusted past now.
    state.statusExpiresAt = state.lookUpAgain ? 0 : now + this.options.statusTtlMs;
    state.statusRefreshAt = state.lookUpAgain ? 0 : now + this.options.statusTtlMs * STATUS_REFRESH_AHEAD;
    this.onLookedUp(state);
    this.wakePauseWaiters(state, entry);
    return entry;
  }

  /** Waits for an entry of the tenant whose writes are not paused, polling the directory meanwhile. */
  private waitOutPause(state: TenantState): Promise<TenantDirectoryEntry> {
    this.pauseWaits++;
    return new Promise<TenantDirectoryEntry>((resolve, reject) => {
      const waiter: PauseWaiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          if (!state.pauseWaiters.delete(waiter)) return;
          this.pauseTimeouts++;
          reject(
            tenantMoving(
              state.id,
              `its writes stayed paused for a move's cut-over longer than ${this.pauseWaitMs} ms`,
            ),
          );
        }, this.pauseWaitMs),
      };
      state.pauseWaiters.add(waiter);
      this.pollWhilePaused(state);
    });
  }

  /** One directory poll at a time, every MOVE_PAUSE_POLL_MS, while anyone waits out the pause. */
  private pollWhilePaused(state: TenantState): void {
    if (state.pausePoll !== undefined || state.pauseWaiters.size === 0) return;
    state.pausePoll = setTimeout(() => {
      this.lookUp(state)
        .catch((error: unknown) =>
          this.log.warn({ tenantId: state.id, err: error }, 'tenant status poll during a pause failed'),
        )
        .finally(() => {
          state.pausePoll = undefined;
          this.pollWhilePaused(state);
        });
    }, MOVE_PAUSE_POLL_MS);
    state.pausePoll.unref();
  }

  /** After any lookup: an entry no longer paused (or no longer servable) ends the waits. */
  private wakePauseWaiters(state: TenantState, entry: TenantDirectoryEntry | null): void {
    if (state.pauseWaiters.size === 0 || entry?.writesPaused === true) return;
    const waiters = [...state.pauseWaiters];
    state.pauseWaiters.clear();
    for (const waiter of waiters) {
      clearTimeout(waiter.timer);
      try {
        waiter.resolve(servable(state, entry));
      } catch (error) {
        waiter.reject(error as Error);
      }
    }
  }
}

/** The entry when the tenant exists and is ACTIVE; its refusal otherwise. */
function servable(state: TenantState, entry: TenantDirectoryEntry | null): TenantDirectoryEntry {
  if (entry === null)
    throw new TenantAccessError(TenantAccessErrorCode.TENANT_NOT_FOUND, `no tenant has id ${state.id}`, {
      tenantId: state.id,
    });
  if (entry.status !== 'ACTIVE')
    throw new TenantAccessError(
      TenantAccessErrorCode.TENANT_NOT_ACTIVE,
      `tenant ${state.id} is ${entry.status}, not ACTIVE`,
      { tenantId: state.id, status: entry.status },
    );
  return entry;
}
