import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { TenantEntity } from './tenant.entity';

export const RESTORE_COPY_STATUSES = ['AVAILABLE', 'REMOVING', 'REMOVED'] as const;
export type RestoreCopyStatus = (typeof RESTORE_COPY_STATUSES)[number];

/** What a restore copy was restored from, as its restore asked. */
/**
 * What a restore asked for; a copy of the live data that a restore in place replaced is
 * `{replacedAt}`: the moment of its switch.
 */
export type RestoreSource =
  { pointInTime: string } | { snapshot: string } | { latest: true } | { replacedAt: string };

/**
 * A tenant's data restored beside it (a restore of mode `copy`, the change `run`): an instance of
 * its own, read through a read-only login whose secret is named here (never its value), removed
 * at `expiresAt` or on request.
 */
@Entity({ name: 'tenant_restore_copies' })
@Index('tenant_restore_copies_expiring', { synchronize: false })
@Check('tenant_restore_copies_status_known', `status IN ('AVAILABLE', 'REMOVING', 'REMOVED')`)
@Check('tenant_restore_copies_run_positive', `run >= 1`)
export class TenantRestoreCopyEntity {
  @PrimaryColumn({ name: 'tenant_id', type: 'uuid', primaryKeyConstraintName: 'tenant_restore_copies_pkey' })
  tenantId!: string;

  @ManyToOne(() => TenantEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'tenant_id', foreignKeyConstraintName: 'tenant_restore_copies_tenant_fkey' })
  tenant?: TenantEntity;

  /** The restore change that made it. */
  @PrimaryColumn({ type: 'integer', primaryKeyConstraintName: 'tenant_restore_copies_pkey' })
  run!: number;

  @Column({ type: 'varchar', length: 16 })
  status!: RestoreCopyStatus;

  @Column({ type: 'jsonb' })
  source!: RestoreSource;

  /** NULL: the default region. */
  @Column({ type: 'varchar', length: 32, nullable: true })
  region!: string | null;

  @Column({ name: 'instance_identifier', type: 'varchar', length: 63 })
  instanceIdentifier!: string;

  @Column({ name: 'reader_secret_name', type: 'varchar', length: 512 })
  readerSecretName!: string;

  @Column({ name: 'master_secret_name', type: 'varchar', length: 512 })
  masterSecretName!: string;

  @Column({ name: 'endpoint_host', type: 'varchar', length: 255, nullable: true })
  endpointHost!: string | null;

  @Column({ name: 'endpoint_port', type: 'integer', nullable: true })
  endpointPort!: number | null;

  @Column({ name: 'database_name', type: 'varchar', length: 63, nullable: true })
  databaseName!: string | null;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;

  @Column({ name: 'removed_at', type: 'timestamptz', nullable: true })
  removedAt!: Date | null;
}
