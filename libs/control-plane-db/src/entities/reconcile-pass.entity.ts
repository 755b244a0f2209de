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

  /** Tenants, rollout tenants and shared hosts whose lost job was queued again. */
  @Column({ type: 'integer', default: 0 })
  redriven!: number;

  /** ACTIVE and SUSPENDED tenants compared with their tier profile. */
  @Column({ name: 'drift_checked', type: 'integer', default: 0 })
  driftChecked!: number;

  /** Available shared hosts compared with their record and their tier's profile. */
  @Column({ name: 'hosts_checked', type: 'integer', default: 0 })
  hostsChecked!: number;

  /** Repairs that went through in this pass. */
  @Column({ name: 'drift_repaired', type: 'integer', default: 0 })
  driftRepaired!: number;

  /** Open reported (not repaired) findings on tenants and hosts after the pass. */
  @Column({ name: 'drift_reported', type: 'integer', default: 0 })
  driftReported!: number;

  /** Open critical findings on tenants and hosts after the pass (an instance or secret gone). */
  @Column({ name: 'drift_critical', type: 'integer', default: 0 })
  driftCritical!: number;

  /** Orphaned resources after the pass. */
  @Column({ type: 'integer', default: 0 })
  orphans!: number;

  /** The last tenant (by id) whose alarms this pass read; the next pass goes on after it. */
  @Column({ name: 'alarms_checked_through', type: 'uuid', nullable: true })
  alarmsCheckedThrough!: string | null;

  /** Why the pass did not finish, when it did not. Never a credential. */
  @Column({ type: 'text', nullable: true })
  error!: string | null;
}
