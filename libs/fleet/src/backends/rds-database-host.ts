import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';
import type { RdsInstances } from '@silo/aws';
import type { SiloConfig } from '@silo/config';
import { readFileSync } from 'node:fs';
import {
  restoredFrom,
  type RestoredInstance,
  type StartedInstance,
  type TenantDatabaseEndpoint,
  type TenantDatabaseHost,
} from './tenant-database-host';

/** Real AWS: the database is the RDS instance itself; nothing to create or remove. */
export class RdsDatabaseHost implements TenantDatabaseHost {
  readonly kind = 'rds';
  private readonly ssl: TenantDatabaseEndpoint['ssl'];

  constructor(
    private readonly config: Pick<SiloConfig, 'tenants'>,
    private readonly rds: Pick<RdsInstances, 'setMasterPassword' | 'describe'>,
  ) {
    const { ssl, caFile } = config.tenants;
    this.ssl =
      ssl === 'disable'
        ? false
        : {
            rejectUnauthorized: ssl === 'verify-full',
            ca: caFile ? readFileSync(caFile, 'utf8') : undefined,
          };
  }

  start(instance: StartedInstance): Promise<TenantDatabaseEndpoint> {
    return new Promise((resolve) => resolve(this.endpointOf(instance)));
  }

  endpointOf(instance: Pick<StartedInstance, 'identifier' | 'rdsEndpoint'>): TenantDatabaseEndpoint {
    if (!instance.rdsEndpoint) {
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `RDS reports ${instance.identifier} available without an endpoint`,
      );
    }
    return { ...instance.rdsEndpoint, database: this.config.tenants.databaseName, ssl: this.ssl };
  }

  async setMasterPassword(instance: {
    identifier: string;
    masterUsername: string;
    password: string;
  }): Promise<void> {
    await this.rds.setMasterPassword(instance.identifier, instance.password);
  }

  /**
   * RDS restored the data and the instance answers at its own endpoint (read from RDS: the
   * restore made a new one); the master password is the caller's to set (setMasterPassword).
   */
  async restore(spec: RestoredInstance): Promise<TenantDatabaseEndpoint> {
    const found = await this.rds.describe(spec.identifier);
    if (!found)
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `RDS has no instance ${spec.identifier} restored from ${restoredFrom(spec.from)}`,
      );
    return this.endpointOf({ identifier: spec.identifier, rdsEndpoint: found.endpoint });
  }

  /** RDS moved the data and the endpoint with the name. */
  rename(): Promise<void> {
    return Promise.resolve();
  }

  /** The instance's master user is its own: a password of its own is enough. */
  async handOver(spec: { identifier: string; masterUsername: string; password: string }): Promise<void> {
    await this.setMasterPassword(spec);
  }

  /** RDS keeps a snapshot's data itself. */
  snapshot(): Promise<void> {
    return Promise.resolve();
  }

  replicationLogin(_identifier: string): null {
    return null;
  }

  remove(): Promise<void> {
    return Promise.resolve();
  }
}
