import type { Placement, TenantStatus, TierName } from '@silo/core';
import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  Unique,
  UpdateDateColumn,
  VersionColumn,
} from 'typeorm';
import { HostEntity } from './host.entity';

/** A tenant and the facts Silo knows about its database. Never holds a password. */
@Entity({ name: 'tenants' })
@Index('tenants_created_at_id_idx', ['createdAt', 'id'])
@Index('tenants_status_idx', ['status'])
@Unique('tenants_slug_key', ['slug'])
@Check('tenants_slug_format', `slug ~ '^[a-z][a-z0-9-]{1,30}[a-z0-9]$' AND position('--' in slug) = 0`)
@Check(
  'tenants_status_known',
  `status IN ('PENDING','PROVISIONING','ACTIVE','SUSPENDED','FAILED','DEPROVISIONING','DELETED')`,
)
@Check('tenants_route_version_positive', `route_version >= 1`)
@Check('tenants_endpoint_port_range', `db_endpoint_port BETWEEN 1 AND 65535`)
@Check('tenants_provisioning_run_positive', `provisioning_run >= 1`)
@Check('tenants_placement_known', `placement IN ('instance', 'schema', 'pool')`)
@Check(
  'tenants_host_matches_placement',
  `(placement = 'instance' AND host_id IS NULL)
        OR (placement <> 'instance' AND (host_id IS NOT NULL OR status NOT IN ('ACTIVE', 'SUSPENDED')))`,
)
@Check('tenants_region_format', `region ~ '^[a-z]{2}(-[a-z]+)+-[0-9]$'`)
@Index('tenants_host_id_idx', { synchronize: false })
export class TenantEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'varchar', length: 32 })
  slug!: string;

  @Column({ type: 'varchar', length: 200 })
  name!: string;

  @Column({ type: 'varchar', length: 32 })
  tier!: TierName;

  @Column({ type: 'varchar', length: 16 })
  status!: TenantStatus;

  /** Where the tenant's data lives: its own instance, or a schema or the pool on a shared host. */
  @Column({ type: 'varchar', length: 16, default: 'instance' })
  placement!: Placement;

  /**
   * The shared host the tenant is placed on; null for `instance` tenants and for a shared tenant
   * not placed yet (never for an ACTIVE or SUSPENDED one). Kept once the tenant is DELETED.
   */
  @Column({ name: 'host_id', type: 'uuid', nullable: true })
  hostId!: string | null;

  @ManyToOne(() => HostEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'host_id', foreignKeyConstraintName: 'tenants_host_fkey' })
  host?: HostEntity;

  /**
   * The AWS region its data lives in (instance or host, secrets, alarms, snapshots, exports).
   * NULL only for a tenant made before regions existed and not yet pinned by `migrate`: it means
   * the default region (AWS_REGION). Migration TenantRegions1795424400000.
   */
  @Column({ type: 'varchar', length: 32, nullable: true })
  region!: string | null;

  @Column({ name: 'created_by', type: 'varchar', length: 200, nullable: true })
  createdBy!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;

  @VersionColumn({ default: 1 })
  version!: number;

  /**
   * Counts the switches of the tenant's route (a move's cut-over): the data plane opens a new
   * DataSource, with credentials read again, when it sees it change.
   */
  @Column({ name: 'route_version', type: 'integer', default: 1 })
  routeVersion!: number;

  /** Set while a move's cut-over holds the tenant's writes; the data plane's new leases wait. */
  @Column({ name: 'writes_paused_at', type: 'timestamptz', nullable: true })
  writesPausedAt!: Date | null;

  /** Incremented by each retry from FAILED; part of the provisioning job id. */
  @Column({ name: 'provisioning_run', type: 'integer', default: 1 })
  provisioningRun!: number;

  /** The number of the tenant's latest change (tier change or rotation); 0 before the first. */
  @Column({ name: 'change_run', type: 'integer', default: 0 })
  changeRun!: number;

  /** When Silo last asked RDS to change this instance's storage (one change per six hours). */
  @Column({ name: 'storage_modified_at', type: 'timestamptz', nullable: true })
  storageModifiedAt!: Date | null;

  /** When the running provisioning or deprovisioning saga started (for its deadline). */
  @Column({ name: 'saga_started_at', type: 'timestamptz', nullable: true })
  sagaStartedAt!: Date | null;

  @Column({ name: 'db_instance_identifier', type: 'varchar', length: 63, nullable: true })
  dbInstanceIdentifier!: string | null;

  @Column({ name: 'db_instance_class', type: 'varchar', length: 64, nullable: true })
  dbInstanceClass!: string | null;

  @Column({ name: 'db_engine', type: 'varchar', length: 32, nullable: true })
  dbEngine!: string | null;

  @Column({ name: 'db_engine_version', type: 'varchar', length: 32, nullable: true })
  dbEngineVersion!: string | null;

  @Column({ name: 'db_multi_az', type: 'boolean', nullable: true })
  dbMultiAz!: boolean | null;

  @Column({ name: 'db_storage_encrypted', type: 'boolean', nullable: true })
  dbStorageEncrypted!: boolean | null;

  @Column({ name: 'db_endpoint_host', type: 'varchar', length: 255, nullable: true })
  dbEndpointHost!: string | null;

  @Column({ name: 'db_endpoint_port', type: 'integer', nullable: true })
  dbEndpointPort!: number | null;

  @Column({ name: 'db_name', type: 'varchar', length: 63, nullable: true })
  dbName!: string | null;

  @Column({ name: 'master_secret_arn', type: 'varchar', length: 2048, nullable: true })
  masterSecretArn!: string | null;

  @Column({ name: 'app_secret_arn', type: 'varchar', length: 2048, nullable: true })
  appSecretArn!: string | null;

  @Column({ name: 'schema_version', type: 'varchar', length: 64, nullable: true })
  schemaVersion!: string | null;

  @Column({ name: 'failure_code', type: 'varchar', length: 64, nullable: true })
  failureCode!: string | null;

  @Column({ name: 'failure_message', type: 'text', nullable: true })
  failureMessage!: string | null;

  @Column({ name: 'failure_step', type: 'varchar', length: 40, nullable: true })
  failureStep!: string | null;
}
