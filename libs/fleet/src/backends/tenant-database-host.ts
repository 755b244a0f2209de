/** Where the worker reaches a tenant database as its owner. */
export interface TenantDatabaseEndpoint {
  host: string;
  port: number;
  database: string;
  /** TLS settings for pg: false, or pg's `ssl` options. */
  ssl: false | { rejectUnauthorized: boolean; ca?: string };
}

export interface StartedInstance {
  identifier: string;
  rdsEndpoint: { host: string; port: number } | null;
  masterUsername: string;
  masterPassword: string;
}

/** A restored instance and what it was restored from (see {@link TenantDatabaseHost.restore}). */
export interface RestoredInstance {
  identifier: string;
  masterUsername: string;
  masterPassword: string;
  /** An instance at a point in time, or a snapshot (one Silo took: a final or a manual one). */
  from: { sourceIdentifier: string; pointInTime: Date } | { snapshotIdentifier: string };
}

/** What a restore is from, for a message. */
export function restoredFrom(from: RestoredInstance['from']): string {
  return 'snapshotIdentifier' in from
    ? `snapshot ${from.snapshotIdentifier}`
    : `${from.sourceIdentifier} as of ${from.pointInTime.toISOString()}`;
}

/**
 * The one seam between "RDS says the instance is available" and "a PostgreSQL server answers".
 * With real AWS the RDS endpoint is the server. With the local instance backend
 * (LOCAL_INSTANCE_ADMIN_URL) each instance is materialised as a database and owner role on a
 * local PostgreSQL server, because emulators start no databases.
 */
export interface TenantDatabaseHost {
  readonly kind: 'rds' | 'local';
  /** Makes sure the instance's database answers with the master credentials; returns where. */
  start(instance: StartedInstance): Promise<TenantDatabaseEndpoint>;
  /** Where an instance that {@link start} has seen answers; no side effects. */
  endpointOf(instance: Pick<StartedInstance, 'identifier' | 'rdsEndpoint'>): TenantDatabaseEndpoint;
  /**
   * Sets the master user's password (a credential rotation's setSecret): ModifyDBInstance
   * `MasterUserPassword` on RDS (applied at once; the instance is `resetting-master-credentials`
   * for a while), ALTER ROLE on the local backend.
   */
  setMasterPassword(instance: {
    identifier: string;
    masterUsername: string;
    password: string;
  }): Promise<void>;
  /**
   * Who makes a move's replication objects (publication, slot, subscription) in an instance's
   * database, and whom a subscription logs in as: null on RDS, where the master user does
   * (rds_superuser with rds_replication); the local backend's server superuser, which stands in
   * for them (PostgreSQL 15 lets only a superuser create a subscription).
   */
  replicationLogin(identifier: string): { username: string; password: string } | null;
  /**
   * After RDS has restored `identifier` (RestoreDBInstanceToPointInTime / FromDBSnapshot): makes
   * sure its database answers with these master credentials and holds the source's data as of
   * the restore. RDS: nothing to do but answer where (RDS restored the data; the master password
   * is set by the caller with setMasterPassword). Local backend: materialises the restored data.
   */
  restore(spec: RestoredInstance): Promise<TenantDatabaseEndpoint>;
  /**
   * When RDS snapshots `identifier` as `snapshotIdentifier` (CreateDBSnapshot, or the final
   * snapshot of its deletion): RDS keeps the data, nothing to do. The local backend keeps a dump
   * of the database under that name, which a restore from the snapshot restores. Call it before
   * the instance is deleted. Idempotent.
   */
  snapshot(spec: { identifier: string; snapshotIdentifier: string }): Promise<void>;
  /**
   * After RDS renamed an instance (ModifyDBInstance `NewDBInstanceIdentifier`): RDS, nothing
   * (the instance, its data and endpoint move with the name). The local backend renames its
   * database, ending its sessions. Idempotent.
   */
  rename(spec: { from: string; to: string }): Promise<void>;
  /**
   * Gives an instance a master login of its own (`masterUsername` with `password`), which
   * `previousOwner`'s credentials no longer open: on RDS, the master password (the master user
   * is the instance's own); on the local backend, where roles are the server's, a role of its
   * own that takes over the database and what `previousOwner` owns in it.
   */
  handOver(spec: {
    identifier: string;
    masterUsername: string;
    password: string;
    previousOwner: string;
  }): Promise<void>;
  /** Undoes {@link start} (local backend: drops the database and the given roles). */
  remove(instance: { identifier: string; roles: string[] }): Promise<void>;
  /**
   * The backend of `region` (RDS in that region, or that region's local server). Absent: this
   * backend serves every region (a test's single server).
   */
  inRegion?(region: string): TenantDatabaseHost;
}

export const TENANT_DATABASE_HOST = Symbol('TENANT_DATABASE_HOST');
