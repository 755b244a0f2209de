import { Check, Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { HostEntity } from './host.entity';

/** An open finding of the reconciler on one shared host; the row goes when the finding clears. */
@Entity({ name: 'reconcile_host_findings' })
@Check('reconcile_host_findings_kind_known', `kind IN ('repairable', 'reported', 'missing')`)
@Check('reconcile_host_findings_severity_known', `severity IN ('warning', 'critical')`)
export class ReconcileHostFindingEntity {
  @PrimaryColumn({ name: 'host_id', type: 'uuid', primaryKeyConstraintName: 'reconcile_host_findings_pkey' })
  hostId!: string;

  @ManyToOne(() => HostEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'host_id', foreignKeyConstraintName: 'reconcile_host_findings_host_fkey' })
  host?: HostEntity;

  /** `instance…`, `host.…`, `secret:<master|pool-app>…` or `alarm:<metric>…`. */
  @PrimaryColumn({ type: 'varchar', length: 200, primaryKeyConstraintName: 'reconcile_host_findings_pkey' })
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
