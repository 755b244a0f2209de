import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** One pass of the reconciler: when, what started it, and what it found and did. */
@Entity({ name: 'reconcile_passes' })
@Index('reconcile_passes_started_at_idx', ['startedAt'])
export class ReconcilePassEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'reconcile_passes_pkey' })
  id!: string;

  /** `schedule`, or the JWT sub of whoever asked with POST /v1/reconcile. */
  @Column({ name: 'triggered_by', type: 'varchar', length: 200 })
  triggeredBy!: string;

  @Column({ name: 'started_at', type: 'timestamptz', default: () => 'now()' })
  startedAt!: Date;

  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;

  /** Tenants the pass looked at. */
  @Column({ name: 'tenants_checked', type: 'integer', default: 0 })
  tenantsChecked!: number;

  /** Tenants and rollout tenants whose lost job was queued again. */
  @Column({ type: 'integer', default: 0 })
  redriven!: number;

  /** Why the pass did not finish, when it did not. Never a credential. */
  @Column({ type: 'text', nullable: true })
  error!: string | null;
}
