import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { TenantEntity } from './tenant.entity';

export const CHANGE_KINDS = ['tier', 'rotation', 'move', 'restore', 'undelete'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];
export const CHANGE_APPLY = ['now', 'maintenance-window'] as const;
export type ChangeApply = (typeof CHANGE_APPLY)[number];
export const CHANGE_STATUSES = ['RUNNING', 'PENDING_MAINTENANCE', 'SUCCEEDED', 'FAILED'] as const;
export type ChangeStatus = (typeof CHANGE_STATUSES)[number];
/** A change in one of these holds the tenant: no other change starts until it ends. */
export const OPEN_CHANGE_STATUSES: readonly ChangeStatus[] = ['RUNNING', 'PENDING_MAINTENANCE'];

/**
 * One change to a live tenant: a tier change (`from`/`to` are tiers), a credential rotation
 * (`to` is app, master or both), a move (`from`/`to` are `<placement>@<region>`) or a restore
 * (`from` what it restores from, `to` its mode) or an undelete of a DELETED tenant (`from` its final
 * snapshot, `to` `ACTIVE`). Never a password.
 */
@Entity({ name: 'tenant_changes' })
@Index('tenant_changes_one_open', { synchronize: false })
@Check('tenant_changes_kind_known', `kind IN ('tier', 'rotation', 'move', 'restore', 'undelete')`)
@Check('tenant_changes_apply_known', `apply IN ('now', 'maintenance-window')`)
@Check('tenant_changes_status_known', `status IN ('RUNNING', 'PENDING_MAINTENANCE', 'SUCCEEDED', 'FAILED')`)
@Check('tenant_changes_run_positive', `run >= 1`)
export class TenantChangeEntity {
  @PrimaryColumn({ name: 'tenant_id', type: 'uuid', primaryKeyConstraintName: 'tenant_changes_pkey' })
  tenantId!: string;

  @ManyToOne(() => TenantEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'tenant_id', foreignKeyConstraintName: 'tenant_changes_tenant_fkey' })
  tenant?: TenantEntity;

  /** The tenant's change number (`tenants.change_run` when it was made), its steps' run. */
  @PrimaryColumn({ type: 'integer', primaryKeyConstraintName: 'tenant_changes_pkey' })
  run!: number;

  @Column({ type: 'varchar', length: 16 })
  kind!: ChangeKind;

  @Column({ name: 'from_value', type: 'varchar', length: 64 })
  from!: string;

  @Column({ name: 'to_value', type: 'varchar', length: 64 })
  to!: string;

  @Column({ type: 'varchar', length: 24 })
  apply!: ChangeApply;

  @Column({ type: 'varchar', length: 24 })
  status!: ChangeStatus;

  /** What the change asks RDS for and its notes (a tier change's plan), recorded before it runs. */
  @Column({ type: 'jsonb', default: {} })
  plan!: Record<string, unknown>;

  /** RDS's PendingModifiedValues while the change waits for the maintenance window. */
  @Column({ name: 'pending_modified_values', type: 'jsonb', nullable: true })
  pendingModifiedValues!: Record<string, unknown> | null;

  @Column({ name: 'error_code', type: 'varchar', length: 64, nullable: true })
  errorCode!: string | null;

  @Column({ name: 'error_message', type: 'text', nullable: true })
  errorMessage!: string | null;

  @Column({ name: 'error_step', type: 'varchar', length: 40, nullable: true })
  errorStep!: string | null;

  @Column({ name: 'requested_by', type: 'varchar', length: 200 })
  requestedBy!: string;

  @Column({ name: 'correlation_id', type: 'varchar', length: 200 })
  correlationId!: string;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;

  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;
}
