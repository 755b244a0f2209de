import { withTimeout } from '@silo/core/async/with-timeout';
import { TenantAccessError, TenantAccessErrorCode, tenantUnavailable } from './tenant-router.errors';
import type {
  TenantDirectory,
  TenantDirectoryEntry,
  TenantRouterLog,
  TenantRouterOptions,
} from './tenant-router.types';
import type { TenantState } from './tenant-state';

const STATUS_REFRESH_AHEAD = 0.75;
const RETRY_AFTER_MS = 1_000;

/**
 * Tenants' status as the directory tells it, cached per tenant for `statusTtlMs`: one lookup at
 * a time per tenant (concurrent callers share it), bounded by `connectionTimeoutMs`, refreshed
 * in the background once three quarters of the TTL have passed so the warm path never waits.
 * Every answer stored is told to `onLookedUp`, which binds the tenant to what serves its
 * placement and retires the tenant's own DataSource once it is seen not ACTIVE. Internal to the
 * router.
 */
export class TenantStatuses {
  constructor(
    private readonly directory: TenantDirectory,
    private readonly options: TenantRouterOptions,
    private readonly now: () => number,
    private readonly log: TenantRouterLog,
    private readonly onLookedUp: (state: TenantState) => void,
  ) {}

  /** True when the warm path should start a background refresh now. */
  dueForRefresh(state: TenantState, now: number): boolean {
    return now >= state.statusRefreshAt && state.statusLookup === undefined;
  }

  async active(state: TenantState): Promise<TenantDirectoryEntry> {
    let entry = state.entry;
    const now = this.now();
    if (entry === undefined || now >= state.statusExpiresAt) entry = await this.lookUp(state);
    else if (now >= state.statusRefreshAt && state.statusLookup === undefined) this.refresh(state);
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
  lookUp(state: TenantState): Promise<TenantDirectoryEntry | null> {
    if (state.statusLookup === undefined) {
      const lookup = this.find(state).finally(() => {
        if (state.statusLookup === lookup) state.statusLookup = undefined;
      });
      state.statusLookup = lookup;
    }
    return state.statusLookup;
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
    state.statusExpiresAt = now + this.options.statusTtlMs;
    state.statusRefreshAt = now + this.options.statusTtlMs * STATUS_REFRESH_AHEAD;
    this.onLookedUp(state);
    return entry;
  }
  refresh(state: TenantState): void {
    this.lookUp(state).catch((error: unknown) =>
      this.log.warn({ tenantId: state.id, err: error }, 'tenant status refresh failed'),
    );
  }
}
