import { Check, Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { TenantEntity } from './tenant.entity';

export const STEP_STATUSES = ['pending', 'running', 'waiting', 'done', 'failed', 'compensated'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export const SAGAS = ['provision', 'deprovision', 'modify', 'rotate', 'move', 'restore', 'undelete'] as const;
export type Saga = (typeof SAGAS)[number];

/** The record of one step of one saga for one tenant. */
@Entity({ name: 'provisioning_steps' })
@Check(
  'provisioning_steps_saga_known',
  `saga IN ('provision','deprovision','modify','rotate','move','restore','undelete')`,
)
@Check(
  'provisioning_steps_status_known',
  `status IN ('pending','running','waiting','done','failed','compensated')`,
)
@Check('provisioning_steps_attempts_positive', `attempts >= 0`)
@Check('provisioning_steps_failures_positive', `failures >= 0`)
@Check('provisioning_steps_run_positive', `run >= 1`)
export class ProvisioningStepEntity {
  @PrimaryColumn({ name: 'tenant_id', type: 'uuid' })
  tenantId!: string;

  @ManyToOne(() => TenantEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'tenant_id', foreignKeyConstraintName: 'provisioning_steps_tenant_id_fkey' })
  tenant?: TenantEntity;

  @PrimaryColumn({ type: 'varchar', length: 16 })
  saga!: Saga;

  /**
   * The run this row belongs to: for provision and deprovision the tenant's provisioning run (a
   * retry starts a new one); for modify and rotate the change's number.
   */
  @PrimaryColumn({ type: 'integer' })
  run!: number;

  @PrimaryColumn({ type: 'varchar', length: 40 })
  step!: string;

  /** Order of the step within its saga, for display. */
  @Column({ type: 'smallint' })
  position!: number;

  @Column({ type: 'varchar', length: 16 })
  status!: StepStatus;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  /** Retryable failures so far (passes that only waited do not count). */
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
