import { withTimeout } from '@silo/core/async/with-timeout';
import type {
  TenantAppCredentials,
  TenantCredentialSource,
  TenantRouterOptions,
} from './tenant-router.types';
import { describeTarget, type DataSourceTarget } from './data-source-target';

/**
 * App secrets, cached per DataSource target for `secretTtlMs` (per tenant, and per host for
 * pooled tenants, whose host's one secret serves them all): one fetch at a time per target
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

  async forOpening(target: DataSourceTarget): Promise<{ credentials: TenantAppCredentials; fresh: boolean }> {
    if (target.credentials !== undefined && this.now() < target.credentialsExpireAt)
      return { credentials: target.credentials, fresh: false };
    return { credentials: await this.fetch(target), fresh: true };
  }
  /** Fetches the target's secret with its entry (a pool's: any of its tenants' names the host's). */
  fetch(target: DataSourceTarget): Promise<TenantAppCredentials> {
    if (target.credentialsFetch === undefined) {
      const fetch = this.fetchSecret(target).finally(() => {
        if (target.credentialsFetch === fetch) target.credentialsFetch = undefined;
      });
      target.credentialsFetch = fetch;
    }
    return target.credentialsFetch;
  }
  private async fetchSecret(target: DataSourceTarget): Promise<TenantAppCredentials> {
    this.fetches++;
    const routeVersion = target.routeVersion;
    let credentials: TenantAppCredentials;
    try {
      credentials = await withTimeout(
        this.source.fetch(target.entry),
        this.options.connectionTimeoutMs,
        `the secret of ${describeTarget(target)} was not fetched within ${this.options.connectionTimeoutMs} ms`,
      );
    } catch (error) {
      // A refresh of cached credentials failed: keep them through the backoff, set before this
      // fetch stops being shared so that no caller starts another one in between.
      if (target.credentials !== undefined)
        target.credentialsExpireAt = this.now() + this.options.failureBackoffMs;
      throw error;
    }
    // Read for a route the tenant has left since: not kept (what opens with it is retired).
    if (target.routeVersion === routeVersion) {
      target.credentials = credentials;
      target.credentialsExpireAt = this.now() + this.options.secretTtlMs;
    }
    return credentials;
  }
  forget(target: DataSourceTarget): void {
    target.credentials = undefined;
    target.credentialsExpireAt = 0;
  }
  /** The tenant moved: what is cached or being fetched is for its old route; the next fetch starts anew. */
  drop(target: DataSourceTarget): void {
    this.forget(target);
    target.credentialsFetch = undefined;
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
