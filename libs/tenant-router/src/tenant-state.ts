import { TenantShare } from './fair-shares';
import type { TenantAppCredentials, TenantDirectoryEntry } from './tenant-router.types';
import type { TenantSlot } from './tenant-slot';

/** What the router knows of one tenant. */
export interface TenantState {
  readonly id: string;
  /** undefined until first looked up; null when no tenant has the id. */
  entry: TenantDirectoryEntry | null | undefined;
  statusExpiresAt: number;
  /** After this, a call still served from the cache refreshes the status in the background. */
  statusRefreshAt: number;
  statusLookup: Promise<TenantDirectoryEntry | null> | undefined;
  credentials: TenantAppCredentials | undefined;
  credentialsExpireAt: number;
  credentialsFetch: Promise<TenantAppCredentials> | undefined;
  /** The credentials the current DataSource logged in with. */
  slotCredentials: TenantAppCredentials | undefined;
  /** The DataSource handed out now; never a retired one. */
  slot: TenantSlot | undefined;
  opening: Promise<TenantSlot> | undefined;
  failedUntil: number;
  failure: unknown;
  rotation: Promise<void> | undefined;
  /** Its concurrent leases, against its tier's cap. */
  readonly share: TenantShare;
}

/** A tenant seen for the first time: nothing cached. */
export function newTenantState(id: string): TenantState {
  return {
    id,
    entry: undefined,
    statusExpiresAt: 0,
    statusRefreshAt: 0,
    statusLookup: undefined,
    credentials: undefined,
    credentialsExpireAt: 0,
    credentialsFetch: undefined,
    slot: undefined,
    opening: undefined,
    failedUntil: 0,
    failure: undefined,
    rotation: undefined,
    slotCredentials: undefined,
    share: new TenantShare(),
  };
}

/** Nothing cached, nothing under way: the router may forget the tenant. */
export function forgettable(state: TenantState, now: number): boolean {
  return (
    state.slot === undefined &&
    state.opening === undefined &&
    state.statusLookup === undefined &&
    state.credentialsFetch === undefined &&
    state.rotation === undefined &&
    state.share.idle &&
    now >= state.statusExpiresAt &&
    now >= state.credentialsExpireAt &&
    now >= state.failedUntil
  );
}
