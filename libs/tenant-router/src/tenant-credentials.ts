import { withTimeout } from '@silo/core';
import type {
  TenantAppCredentials,
  TenantCredentialSource,
  TenantDirectoryEntry,
  TenantRouterOptions,
} from './tenant-router.types';
import type { TenantState } from './tenant-state';

/**
 * Tenants' app secrets, cached per tenant for `secretTtlMs`: one fetch at a time per tenant
 * (concurrent callers share it), bounded by `connectionTimeoutMs`. Internal to the router.
 */
export class TenantCredentials {
  /** Fetches from the credential source. */
  fetches = 0;

  constructor(
    private readonly source: TenantCredentialSource,
    private readonly options: TenantRouterOptions,
    private readonly now: () => number,
  ) {}

  async forOpening(
    state: TenantState,
    entry: TenantDirectoryEntry,
  ): Promise<{ credentials: TenantAppCredentials; fresh: boolean }> {
    if (state.credentials !== undefined && this.now() < state.credentialsExpireAt)
      return { credentials: state.credentials, fresh: false };
    return { credentials: await this.fetch(state, entry), fresh: true };
  }
  fetch(state: TenantState, entry: TenantDirectoryEntry): Promise<TenantAppCredentials> {
    if (state.credentialsFetch === undefined) {
      const fetch = this.fetchSecret(state, entry).finally(() => {
        if (state.credentialsFetch === fetch) state.credentialsFetch = undefined;
      });
      state.credentialsFetch = fetch;
    }
    return state.credentialsFetch;
  }
  private async fetchSecret(state: TenantState, entry: TenantDirectoryEntry): Promise<TenantAppCredentials> {
    this.fetches++;
    const credentials = await withTimeout(
      this.source.fetch(entry),
      this.options.connectionTimeoutMs,
      `the secret of tenant ${state.id} was not fetched within ${this.options.connectionTimeoutMs} ms`,
    );
    state.credentials = credentials;
    state.credentialsExpireAt = this.now() + this.options.secretTtlMs;
    return credentials;
  }
  forget(state: TenantState): void {
    state.credentials = undefined;
    state.credentialsExpireAt = 0;
  }
}

/** Two secrets name the same login on the same database. */
export function sameCredentials(a: TenantAppCredentials, b: TenantAppCredentials): boolean {
  return (
    a.username === b.username &&
    a.password === b.password &&
    a.host === b.host &&
    a.port === b.port &&
    a.dbname === b.dbname
  );
}
