import { Column, Entity, PrimaryColumn } from 'typeorm';

/** An open finding of the reconciler on one tenant; the row goes when the finding clears. */
@Entity({ name: 'reconcile_findings' })
export class ReconcileFindingEntity {
  @PrimaryColumn({ name: 'tenant_id', type: 'uuid', primaryKeyConstraintName: 'reconcile_findings_pkey' })
  tenantId!: string;

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
