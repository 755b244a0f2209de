import type { SharedPlacement } from '@silo/core';
import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  PrimaryGeneratedColumn,
  Unique,
  UpdateDateColumn,
} from 'typeorm';

export const HOST_STATUSES = ['creating', 'available', 'deleting', 'deleted', 'failed'] as const;
export type HostStatus = (typeof HOST_STATUSES)[number];
/** A host in one of these can take tenants (a `creating` one once it is available). */
export const PLACEABLE_HOST_STATUSES: readonly HostStatus[] = ['available', 'creating'];

/** Why a host's saga stopped: the step, a code from the error's classification, the AWS message. */
export interface HostFailure {
  code: string;
  message: string;
  step?: string;
}

/**
 * A shared host: an RDS instance Silo runs for many `schema` or `pool` tenants of one tier
 * (design.md, "Placements"). Every AWS name of the host derives from `name`
 * (`hostResourceNames` in @silo/core). Never holds a password.
 */
@Entity({ name: 'hosts' })
@Index('hosts_created_at_id_idx', ['createdAt', 'id'])
@Index('hosts_placement_tier_status_idx', ['placement', 'tier', 'status'])
@Index('hosts_placement_tier_region_idx', ['placement', 'tier', 'region'])
@Check('hosts_region_format', `region ~ '^[a-z]{2}(-[a-z]+)+-[0-9]$'`)
@Unique('hosts_name_key', ['name'])
@Unique('hosts_placement_tier_ordinal_key', ['placement', 'tier', 'ordinal'])
@Check('hosts_placement_known', `placement IN ('schema', 'pool')`)
@Check('hosts_status_known', `status IN ('creating', 'available', 'deleting', 'deleted', 'failed')`)
@Check('hosts_ordinal_range', `ordinal BETWEEN 1 AND 999999`)
@Check(
  'hosts_name_format',
  `name ~ '^(pool|schema)-[a-z]+-[0-9]{3,6}$'
          AND name = placement || '-' || tier || '-' || lpad(ordinal::text, greatest(3, length(ordinal::text)), '0')`,
)
@Check('hosts_capacity_positive', `capacity_tenants > 0 AND connection_budget > 0`)
@Check('hosts_endpoint_port_range', `endpoint_port BETWEEN 1 AND 65535`)
@Check('hosts_endpoint_whole', `(endpoint_host IS NULL) = (endpoint_port IS NULL)`)
@Check('hosts_available_has_endpoint', `status <> 'available' OR endpoint_host IS NOT NULL`)
@Check('hosts_deleted_at_matches_status', `(status = 'deleted') = (deleted_at IS NOT NULL)`)
export class HostEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'hosts_pkey' })
  id!: string;

  /** `<placement>-<tier>-<ordinal>`, e.g. `pool-starter-001`. */
  @Column({ type: 'varchar', length: 40 })
  name!: string;

  @Column({ type: 'varchar', length: 16 })
  placement!: SharedPlacement;

  @Column({ type: 'varchar', length: 32 })
  tier!: string;

  /** The host's number among those of its placement and tier, from 1. */
  @Column({ type: 'integer' })
  ordinal!: number;

  @Column({ type: 'varchar', length: 16 })
  status!: HostStatus;

  /**
   * The AWS region the host's instance, secrets and alarms are in; its tenants are of that region.
   * NULL (a host made before regions existed, not yet pinned by `migrate`) means the default region.
   */
  @Column({ type: 'varchar', length: 32, nullable: true })
  region!: string | null;

  @Column({ name: 'instance_identifier', type: 'varchar', length: 63 })
  instanceIdentifier!: string;

  /** Null until the instance is available. */
  @Column({ name: 'endpoint_host', type: 'varchar', length: 255, nullable: true })
  endpointHost!: string | null;

  @Column({ name: 'endpoint_port', type: 'integer', nullable: true })
  endpointPort!: number | null;

  @Column({ name: 'database_name', type: 'varchar', length: 63 })
  databaseName!: string;

  /** How many tenants the host takes (not counting DELETED ones). */
  @Column({ name: 'capacity_tenants', type: 'integer' })
  capacityTenants!: number;

  /** The connections the data plane may open to the host, for all its tenants together. */
  @Column({ name: 'connection_budget', type: 'integer' })
  connectionBudget!: number;

  /** Why the host is `failed`; null otherwise. */
  @Column({ type: 'jsonb', nullable: true })
  error!: HostFailure | null;

  /** Since when the host has had no tenant (for deleting empty hosts after a grace period). */
  @Column({ name: 'empty_since', type: 'timestamptz', nullable: true })
  emptySince!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;

  @Column({ name: 'deleted_at', type: 'timestamptz', nullable: true })
  deletedAt!: Date | null;

  /** A pool host's pool database: the newest tenant migration applied (null for schema hosts). */
  @Column({ name: 'schema_version', type: 'varchar', length: 64, nullable: true })
  schemaVersion!: string | null;
}
