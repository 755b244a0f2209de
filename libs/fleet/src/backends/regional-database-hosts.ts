import type { RdsInstances } from '@silo/aws';
import type { SiloConfig } from '@silo/config';
import { LocalPostgresDatabaseHost } from './local-postgres-database-host';
import { RdsDatabaseHost } from './rds-database-host';
import type {
  RestoredInstance,
  StartedInstance,
  TenantDatabaseEndpoint,
  TenantDatabaseHost,
} from './tenant-database-host';

/**
 * The database backend of every configured region: RDS through that region's client, or that
 * region's local instance backend (LOCAL_INSTANCE_ADMIN_URLS, else LOCAL_INSTANCE_ADMIN_URL). Used
 * as a {@link TenantDatabaseHost} it is the default region's; `inRegion` gives another's (made
 * once per region).
 */
export class RegionalDatabaseHosts implements TenantDatabaseHost {
  readonly kind: 'rds' | 'local';
  private readonly home: TenantDatabaseHost;
  private readonly regions = new Map<string, TenantDatabaseHost>();

  constructor(
    defaultRegion: string,
    private readonly make: (region: string) => TenantDatabaseHost,
  ) {
    this.home = this.inRegion(defaultRegion);
    this.kind = this.home.kind;
  }

  inRegion(region: string): TenantDatabaseHost {
    let host = this.regions.get(region);
    if (!host) {
      host = this.make(region);
      this.regions.set(region, host);
    }
    return host;
  }

  start(instance: StartedInstance): Promise<TenantDatabaseEndpoint> {
    return this.home.start(instance);
  }

  endpointOf(instance: Pick<StartedInstance, 'identifier' | 'rdsEndpoint'>): TenantDatabaseEndpoint {
    return this.home.endpointOf(instance);
  }

  setMasterPassword(instance: {
    identifier: string;
    masterUsername: string;
    password: string;
  }): Promise<void> {
    return this.home.setMasterPassword(instance);
  }

  restore(spec: RestoredInstance): Promise<TenantDatabaseEndpoint> {
    return this.home.restore(spec);
  }

  snapshot(spec: { identifier: string; snapshotIdentifier: string }): Promise<void> {
    return this.home.snapshot(spec);
  }

  rename(spec: { from: string; to: string }): Promise<void> {
    return this.home.rename(spec);
  }

  handOver(spec: {
    identifier: string;
    masterUsername: string;
    password: string;
    previousOwner: string;
  }): Promise<void> {
    return this.home.handOver(spec);
  }

  remove(instance: { identifier: string; roles: string[] }): Promise<void> {
    return this.home.remove(instance);
  }

  replicationLogin(identifier: string): { username: string; password: string } | null {
    return this.home.replicationLogin(identifier);
  }
}

/** Each region's backend from configuration: its local backend URL when it has one, else RDS in that region. */
export function regionalDatabaseHosts(
  config: Pick<SiloConfig, 'tenants' | 'regions' | 'region'>,
  rds: Pick<RdsInstances, 'inRegion'>,
): RegionalDatabaseHosts {
  return new RegionalDatabaseHosts(config.regions.default, (region) => {
    const { localInstanceAdminUrl: url, localHostAdminUrl } = config.region(region);
    return url
      ? new LocalPostgresDatabaseHost(url, localHostAdminUrl)
      : new RdsDatabaseHost(config, rds.inRegion(region));
  });
}
