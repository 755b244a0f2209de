import { materialiseLocalInstance, removeLocalInstance } from '@silo/tenant-schema';
import { classifyPgError } from '../tenant-database-errors';
import type { StartedInstance, TenantDatabaseEndpoint, TenantDatabaseHost } from './tenant-database-host';

/** A shared host's instance identifier (`<prefix>-host-pool-starter-001`). */
const HOST_INSTANCE = /-host-(pool|schema)-[a-z]+-\d{3,6}$/;

/**
 * Local instance backend: each tenant instance becomes a database (named after the instance
 * identifier) owned by a role with the master secret's credentials, on the PostgreSQL server
 * at `adminUrl`; each shared host's instance likewise on `hostAdminUrl` (default the same
 * server). The published endpoint is that server's, not the emulator's.
 *
 * Roles belong to a server, not to a database: a tenant moved between a shared host and an
 * instance has logins of the same names on both, which only two servers keep apart.
 */
export class LocalPostgresDatabaseHost implements TenantDatabaseHost {
  readonly kind = 'local';

  constructor(
    private readonly instanceAdminUrl: string,
    private readonly hostAdminUrl: string = instanceAdminUrl,
  ) {}

  /** The admin URL of the server an instance lives on. */
  private adminUrlOf(identifier: string): string {
    return HOST_INSTANCE.test(identifier) ? this.hostAdminUrl : this.instanceAdminUrl;
  }

  private serverOf(identifier: string): { host: string; port: number } {
    const url = new URL(this.adminUrlOf(identifier));
    return { host: url.hostname, port: Number(url.port || 5432) };
  }

  async start(instance: StartedInstance): Promise<TenantDatabaseEndpoint> {
    try {
      await materialiseLocalInstance(this.adminUrlOf(instance.identifier), {
        database: instance.identifier,
        ownerRole: instance.masterUsername,
        ownerPassword: instance.masterPassword,
      });
    } catch (error) {
      throw classifyPgError(error, `materialising ${instance.identifier} on the local backend`);
    }
    return this.endpointOf(instance);
  }

  endpointOf(instance: Pick<StartedInstance, 'identifier'>): TenantDatabaseEndpoint {
    return { ...this.serverOf(instance.identifier), database: instance.identifier, ssl: false };
  }

  async setMasterPassword(instance: {
    identifier: string;
    masterUsername: string;
    password: string;
  }): Promise<void> {
    // The same convergence as start: the owner role gets the password, nothing else changes.
    await this.start({
      identifier: instance.identifier,
      rdsEndpoint: null,
      masterUsername: instance.masterUsername,
      masterPassword: instance.password,
    });
  }

  replicationLogin(identifier: string): { username: string; password: string } {
    const url = new URL(this.adminUrlOf(identifier));
    return { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
  }

  async remove(instance: { identifier: string; roles: string[] }): Promise<void> {
    try {
      await removeLocalInstance(this.adminUrlOf(instance.identifier), {
        database: instance.identifier,
        roles: instance.roles,
      });
    } catch (error) {
      throw classifyPgError(error, `removing ${instance.identifier} from the local backend`);
    }
  }
}
