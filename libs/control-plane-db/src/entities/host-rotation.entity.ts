import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { HostEntity } from './host.entity';

export const HOST_ROTATION_STATUSES = ['RUNNING', 'SUCCEEDED', 'FAILED'] as const;
export type HostRotationStatus = (typeof HOST_ROTATION_STATUSES)[number];

/**
 * One rotation of a pool host's pool login (the login every pooled tenant of the host is served
 * with), numbered per host; its steps are the host's `host_steps` of saga `rotate`. Never a
 * password: `plan` holds the new version's id and the logins it moves from and to.
 */
@Entity({ name: 'host_rotations' })
@Index('host_rotations_one_running', { synchronize: false })
@Check('host_rotations_status_known', `status IN ('RUNNING', 'SUCCEEDED', 'FAILED')`)
@Check('host_rotations_run_positive', `run >= 1`)
export class HostRotationEntity {
  @PrimaryColumn({ name: 'host_id', type: 'uuid', primaryKeyConstraintName: 'host_rotations_pkey' })
  hostId!: string;

  @ManyToOne(() => HostEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'host_id', foreignKeyConstraintName: 'host_rotations_host_id_fkey' })
  host?: HostEntity;

  /** The host's rotation number, from 1. */
  @PrimaryColumn({ type: 'integer', primaryKeyConstraintName: 'host_rotations_pkey' })
  run!: number;

  @Column({ type: 'varchar', length: 16 })
  status!: HostRotationStatus;

  @Column({ type: 'jsonb', default: {} })
  plan!: Record<string, unknown>;

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
