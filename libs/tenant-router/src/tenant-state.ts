import type { DataSourceTarget } from './data-source-target';
import { TenantShare } from './fair-shares';
import type { TenantDirectoryEntry } from './tenant-router.types';

/** What the router knows of one tenant. */
export interface TenantState {
  readonly id: string;
  /** undefined until first looked up; null when no tenant has the id. */
  entry: TenantDirectoryEntry | null | undefined;
  statusExpiresAt: number;
  /** After this, a call still served from the cache refreshes the status in the background. */
  statusRefreshAt: number;
  statusLookup: Promise<TenantDirectoryEntry | null> | undefined;
  /** A lookup was asked for while one ran (a route signal, a refused write): run one more after it. */
  lookUpAgain: boolean;
  /** Callers waiting for the tenant's paused writes to resume (a move's cut-over). */
  readonly pauseWaiters: Set<PauseWaiter>;
  /** The next directory poll while callers wait out a pause. */
  pausePoll: NodeJS.Timeout | undefined;
  /**
   * What serves the tenant, as its entry's placement says: its own DataSource's target, or its
   * pool host's, shared with the host's other tenants. Bound at every lookup.
   */
  target: DataSourceTarget | undefined;
  /** Its concurrent leases, against its tier's cap. */
  readonly share: TenantShare;
}

/** A caller waiting out a tenant's pause, for at most `movePauseWaitMs`. */
export interface PauseWaiter {
  resolve(entry: TenantDirectoryEntry): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** A tenant seen for the first time: nothing cached. */
export function newTenantState(id: string): TenantState {
  return {
    id,
    entry: undefined,
    statusExpiresAt: 0,
    statusRefreshAt: 0,
    statusLookup: undefined,
    lookUpAgain: false,
    pauseWaiters: new Set(),
    pausePoll: undefined,
    target: undefined,
    share: new TenantShare(),
  };
}

/**
 * Nothing cached, nothing under way: the router may forget the tenant. What its DataSource
 * holds lives in its target, which a new state of the same tenant finds again.
 */
export function forgettable(state: TenantState, now: number): boolean {
  return (
    state.statusLookup === undefined &&
    state.pauseWaiters.size === 0 &&
    state.pausePoll === undefined &&
    state.target?.opening === undefined &&
    state.share.idle &&
    now >= state.statusExpiresAt
  );
}
