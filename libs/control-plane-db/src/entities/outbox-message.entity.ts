import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * A job to hand to the queue, written in the same transaction as the state change that needs
 * it, so the job exists even when Redis was unreachable at that moment. A relay moves pending
 * rows to BullMQ and marks them dispatched. Payloads hold ids only.
 */
@Entity({ name: 'outbox' })
@Index('outbox_pending_idx', ['availableAt', 'id'], { where: 'dispatched_at IS NULL' })
// The newest reconcile request (partial, on job_name = 'reconcile'; see its migration).
@Index('outbox_reconcile_idx', { synchronize: false })
export class OutboxMessageEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id!: string;

  @Column({ type: 'varchar', length: 64 })
  queue!: string;

  @Column({ name: 'job_name', type: 'varchar', length: 64 })
  jobName!: string;

  /** Deterministic BullMQ job id, so that relaying twice adds the job once. */
  @Column({ name: 'job_id', type: 'varchar', length: 128 })
  jobId!: string;

  @Column({ type: 'jsonb' })
  payload!: Record<string, unknown>;

  /** BullMQ job options that belong to the message (priority, delay). */
  @Column({ name: 'job_options', type: 'jsonb', default: {} })
  jobOptions!: Record<string, unknown>;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;

  /** Not before this time (backoff after a failed relay). */
  @Column({ name: 'available_at', type: 'timestamptz', default: () => 'now()' })
  availableAt!: Date;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;

  @Column({ name: 'dispatched_at', type: 'timestamptz', nullable: true })
  dispatchedAt!: Date | null;
}
