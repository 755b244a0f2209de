import {
  hostResourceNames,
  restoreCopyNames,
  tenantResourceNames,
} from '@silo/core/provisioning/tenant-resource-names';
import type {
  RestoreCopyEntry,
  TenantAppCredentials,
  TenantCredentialSource,
  TenantDirectoryEntry,
} from '../tenant-router.types';
import type { SecretReader } from './secrets-manager-secret-reader';

/** The app secret is missing or not in the shape the worker writes. Never carries a secret value. */
export class TenantSecretError extends Error {
  override readonly name = 'TenantSecretError';
}

/**
 * Reads a tenant's app credentials from Secrets Manager (a {@link SecretReader}): the tenant's own
 * `<prefix>/<slug>/app` for `instance` and `schema` tenants, the host's
 * `<prefix>/hosts/<name>/pool-app` (its one pool login) for pooled tenants, both written by the
 * provisioning worker in the RDS secret shape, each read in the tenant's region (a pooled tenant's
 * host is in the tenant's region; null: the default region). The names do not change with the
 * region: the control plane writes a tenant's secrets under the same names in whichever region it
 * lives. The router caches the result for its secret TTL
 * (a host's once for all its pooled tenants) and fetches again after an authentication failure.
 */
export class SecretsManagerCredentialSource implements TenantCredentialSource {
  constructor(
    private readonly secrets: SecretReader,
    /** SILO_RESOURCE_PREFIX, as the worker named the secret. */
    private readonly prefix: string,
  ) {}

  async fetch(tenant: TenantDirectoryEntry): Promise<TenantAppCredentials> {
    const name = this.secretNameOf(tenant);
    const secrets =
      tenant.region !== null && this.secrets.inRegion ? this.secrets.inRegion(tenant.region) : this.secrets;
    const value = await secrets.read(name);
    if (value === null)
      throw new TenantSecretError(
        `secret ${name} does not exist${tenant.region === null ? '' : ` in ${tenant.region}`}`,
      );
    return parseAppSecret(name, value);
  }

  /**
   * The read-only login of the tenant's restore copy: its `readerSecretName`, read in the copy's
   * region, and only when it is the name the restore gives a copy of this tenant and run
   * (`<prefix>/restore-<slug>-<run>/app`), so that no directory row can lend a copy lease the
   * tenant's own login or another's.
   */
  async fetchRestoreCopy(
    tenant: TenantDirectoryEntry,
    copy: RestoreCopyEntry,
  ): Promise<TenantAppCredentials> {
    let expected: string;
    try {
      expected = restoreCopyNames(this.prefix, tenant.slug, copy.run).readerSecretName;
    } catch {
      throw new TenantSecretError(
        `restore copy ${copy.run} of tenant ${tenant.id} has no reader secret name`,
      );
    }
    if (copy.tenantId !== tenant.id || copy.readerSecretName !== expected)
      throw new TenantSecretError(
        `restore copy ${copy.run} of tenant ${tenant.id} names the reader secret ${JSON.stringify(copy.readerSecretName.slice(0, 120))}, not ${expected}`,
      );
    const secrets =
      copy.region !== null && this.secrets.inRegion ? this.secrets.inRegion(copy.region) : this.secrets;
    const value = await secrets.read(expected);
    if (value === null)
      throw new TenantSecretError(
        `secret ${expected} does not exist${copy.region === null ? '' : ` in ${copy.region}`}`,
      );
    return parseAppSecret(expected, value);
  }

  private secretNameOf(tenant: TenantDirectoryEntry): string {
    const placement = tenant.placement;
    if (placement === null) throw new TenantSecretError(`tenant ${tenant.id} is not placed on a host yet`);
    if (placement.kind !== 'pool') return tenantResourceNames(this.prefix, tenant.slug).appSecretName;
    try {
      return hostResourceNames(this.prefix, placement.hostName).poolAppSecretName;
    } catch {
      throw new TenantSecretError(
        `tenant ${tenant.id} is pooled on a host whose name ${JSON.stringify(placement.hostName.slice(0, 80))} is not a host name`,
      );
    }
  }
}

/**
 * Checks the fields the router needs, naming every one that is missing or malformed. Messages
 * name fields, never values: the password must not reach a log line through an error.
 */
export function parseAppSecret(name: string, value: Record<string, unknown>): TenantAppCredentials {
  const problems: string[] = [];
  const text = (field: string): string => {
    const v = value[field];
    if (typeof v === 'string' && v.length > 0) return v;
    problems.push(v === undefined ? `${field} is missing` : `${field} is not a non-empty string`);
    return '';
  };
  const host = text('host');
  const dbname = text('dbname');
  const username = text('username');
  const password = text('password');
  const rawPort = value.port;
  // The worker writes a number; secrets written by hand or by RDS tooling often hold a string.
  const port = typeof rawPort === 'string' && /^\d{1,5}$/.test(rawPort) ? Number(rawPort) : rawPort;
  if (rawPort === undefined) problems.push('port is missing');
  else if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    problems.push('port is not a port number');
  }
  if (problems.length) throw new TenantSecretError(`secret ${name} is unusable: ${problems.join(', ')}`);
  return { host, port: port as number, dbname, username, password };
}
