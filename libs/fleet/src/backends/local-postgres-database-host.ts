import { materialiseLocalInstance, removeLocalInstance } from '@silo/tenant-schema';
import { classifyPgError } from '../tenant-database-errors';
import type { StartedInstance, TenantDatabaseEndpoint, TenantDatabaseHost } from './tenant-database-host';

/**
 * Local instance backend: each tenant instance becomes a database (named after the instance
 * identifier) owned by a role with the master secret's credentials, on the PostgreSQL server
 * at `adminUrl`. The published endpoint is that server's, not the emulator's.
 */
export class LocalPostgresDatabaseHost implements TenantDatabaseHost {
  readonly kind = 'local';
  private readonly server: { host: string; port: number };

  constructor(private readonly adminUrl: string) {
    const url = new URL(adminUrl);
    this.server = { host: url.hostname, port: Number(url.port || 5432) };
  }

  async start(instance: StartedInstance): Promise<TenantDatabaseEndpoint> {
    try {
      await materialiseLocalInstance(this.adminUrl, {
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
    return { ...this.server, database: instance.identifier, ssl: false };
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

  replicationLogin(): { username: string; password: string } {
    const url = new URL(this.adminUrl);
    return { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
  }

  async remove(instance: { identifier: string; roles: string[] }): Promise<void> {
    try {
      await removeLocalInstance(this.adminUrl, { database: instance.identifier, roles: instance.roles });
    } catch (error) {
      throw classifyPgError(error, `removing ${instance.identifier} from the local backend`);
    }
  }
}
