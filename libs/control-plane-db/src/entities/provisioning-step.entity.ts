import { Column, Entity, PrimaryColumn } from 'typeorm';

export const STEP_STATUSES = ['pending', 'running', 'waiting', 'done', 'failed', 'compensated'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export const SAGAS = ['provision', 'deprovision'] as const;
export type Saga = (typeof SAGAS)[number];

/** The record of one step of one saga for one tenant. */
@Entity({ name: 'provisioning_steps' })
export class ProvisioningStepEntity {
  @PrimaryColumn({ name: 'tenant_id', type: 'uuid' })
  tenantId!: string;

  @PrimaryColumn({ type: 'varchar', length: 16 })
  saga!: Saga;

  @PrimaryColumn({ type: 'varchar', length: 40 })
  step!: string;

  /** Order of the step within its saga, for display. */
  @Column({ type: 'smallint' })
  position!: number;

  @Column({ type: 'varchar', length: 16 })
  status!: StepStatus;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

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
