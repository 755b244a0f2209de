import { Check, Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { TenantEntity } from './tenant.entity';

/** An open finding of the reconciler on one tenant; the row goes when the finding clears. */
@Entity({ name: 'reconcile_findings' })
@Check('reconcile_findings_kind_known', `kind IN ('repairable', 'reported', 'missing')`)
@Check('reconcile_findings_severity_known', `severity IN ('warning', 'critical')`)
export class ReconcileFindingEntity {
  @PrimaryColumn({ name: 'tenant_id', type: 'uuid', primaryKeyConstraintName: 'reconcile_findings_pkey' })
  tenantId!: string;

  @ManyToOne(() => TenantEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'tenant_id', foreignKeyConstraintName: 'reconcile_findings_tenant_fkey' })
  tenant?: TenantEntity;

  /** `instance…`, `secret:<master|app>…` or `alarm:<metric>…`. */
  @PrimaryColumn({ type: 'varchar', length: 200, primaryKeyConstraintName: 'reconcile_findings_pkey' })
  field!: string;

  @Column({ type: 'varchar', length: 16 })
  kind!: 'repairable' | 'reported' | 'missing';

  @Column({ type: 'varchar', length: 16 })
  severity!: 'warning' | 'critical';

  @Column({ type: 'text' })
  expected!: string;

  @Column({ type: 'text' })
  found!: string;

  @Column({ name: 'first_seen_at', type: 'timestamptz', default: () => 'now()' })
  firstSeenAt!: Date;

  @Column({ name: 'last_seen_at', type: 'timestamptz', default: () => 'now()' })
  lastSeenAt!: Date;

  /** Why the repair of a repairable finding did not go through yet. */
  @Column({ name: 'repair_error', type: 'text', nullable: true })
  repairError!: string | null;
}
