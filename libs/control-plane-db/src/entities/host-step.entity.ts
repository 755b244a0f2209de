import { Check, Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import type { StepStatus } from './provisioning-step.entity';
import { HostEntity } from './host.entity';

export const HOST_SAGAS = ['create', 'delete', 'rotate'] as const;
export type HostSagaKind = (typeof HOST_SAGAS)[number];

/** The record of one step of one saga of a shared host (design.md, "Placements"). */
@Entity({ name: 'host_steps' })
@Check('host_steps_saga_known', `saga IN ('create','delete','rotate')`)
@Check('host_steps_status_known', `status IN ('pending','running','waiting','done','failed','compensated')`)
@Check('host_steps_attempts_positive', `attempts >= 0`)
@Check('host_steps_failures_positive', `failures >= 0`)
export class HostStepEntity {
  @PrimaryColumn({ name: 'host_id', type: 'uuid' })
  hostId!: string;

  @ManyToOne(() => HostEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'host_id', foreignKeyConstraintName: 'host_steps_host_id_fkey' })
  host?: HostEntity;

  @PrimaryColumn({ type: 'varchar', length: 16 })
  saga!: HostSagaKind;

  @PrimaryColumn({ type: 'varchar', length: 40 })
  step!: string;

  /** Order of the step within its saga, for display. */
  @Column({ type: 'smallint' })
  position!: number;

  @Column({ type: 'varchar', length: 16 })
  status!: StepStatus;

  /** Passes through the step, waits included. */
  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  /** Retryable failures so far. */
  @Column({ type: 'integer', default: 0 })
  failures!: number;

  @Column({ name: 'started_at', type: 'timestamptz', nullable: true })
  startedAt!: Date | null;

  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;

  @Column({ name: 'last_error_code', type: 'varchar', length: 64, nullable: true })
  lastErrorCode!: string | null;

  @Column({ name: 'last_error_message', type: 'text', nullable: true })
  lastErrorMessage!: string | null;
}
