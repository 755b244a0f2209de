import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { SchemaRolloutEntity } from './schema-rollout.entity';
import { HostEntity } from './host.entity';
import { TenantEntity } from './tenant.entity';

export const ROLLOUT_TENANT_STATES = ['pending', 'running', 'succeeded', 'failed', 'skipped'] as const;
export type RolloutTenantState = (typeof ROLLOUT_TENANT_STATES)[number];

/** One tenant of a rollout: its wave, where it is, and what stopped it. Never a host or credential. */
@Entity({ name: 'schema_rollout_tenants' })
@Index('schema_rollout_tenants_dispatch_idx', ['rolloutId', 'state', 'wave', 'position'])
// Partial (pool_host_id IS NOT NULL), made by its migration.
@Index('schema_rollout_tenants_pool_host_idx', { synchronize: false })
@Check('schema_rollout_tenants_state_known', `state IN ('pending','running','succeeded','failed','skipped')`)
export class SchemaRolloutTenantEntity {
  @PrimaryColumn({
    name: 'rollout_id',
    type: 'uuid',
    primaryKeyConstraintName: 'schema_rollout_tenants_pkey',
  })
  rolloutId!: string;

  @ManyToOne(() => SchemaRolloutEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'rollout_id', foreignKeyConstraintName: 'schema_rollout_tenants_rollout_id_fkey' })
  rollout?: SchemaRolloutEntity;

  @PrimaryColumn({ name: 'tenant_id', type: 'uuid', primaryKeyConstraintName: 'schema_rollout_tenants_pkey' })
  tenantId!: string;

  @ManyToOne(() => TenantEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'tenant_id', foreignKeyConstraintName: 'schema_rollout_tenants_tenant_id_fkey' })
  tenant?: TenantEntity;

  /** null for a tenant skipped when the rollout started: it is in no wave. */
  @Column({ type: 'integer', nullable: true })
  wave!: number | null;

  /** Order within the rollout (canary first). */
  @Column({ type: 'integer' })
  position!: number;

  @Column({ type: 'varchar', length: 16 })
  state!: RolloutTenantState;

  /** How many times its job was handed to the queue; part of the job id. */
  @Column({ type: 'integer', default: 0 })
  attempt!: number;

  /** Retryable failures (database or AWS away) of the current attempt. */
  @Column({ type: 'integer', default: 0 })
  failures!: number;

  @Column({ name: 'from_version', type: 'varchar', length: 64, nullable: true })
  fromVersion!: string | null;

  @Column({ name: 'reached_version', type: 'varchar', length: 64, nullable: true })
  reachedVersion!: string | null;

  @Column({ name: 'failed_migration', type: 'varchar', length: 255, nullable: true })
  failedMigration!: string | null;

  @Column({ name: 'sql_state', type: 'varchar', length: 5, nullable: true })
  sqlState!: string | null;

  @Column({ name: 'error_code', type: 'varchar', length: 64, nullable: true })
  errorCode!: string | null;

  @Column({ name: 'error_message', type: 'text', nullable: true })
  errorMessage!: string | null;

  /** Who skipped it (state skipped): an operator, the rollout's creator at start, the worker. */
  @Column({ name: 'skipped_by', type: 'varchar', length: 200, nullable: true })
  skippedBy!: string | null;

  /** Why it was skipped, in words. */
  @Column({ name: 'skip_reason', type: 'text', nullable: true })
  skipReason!: string | null;

  @Column({ name: 'started_at', type: 'timestamptz', nullable: true })
  startedAt!: Date | null;

  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;

  /**
   * The host whose pool database is this tenant's migration target (a pooled tenant); null when
   * the target is the tenant's own database or schema. Rows of one pool host move together.
   */
  @Column({ name: 'pool_host_id', type: 'uuid', nullable: true })
  poolHostId!: string | null;

  @ManyToOne(() => HostEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'pool_host_id', foreignKeyConstraintName: 'schema_rollout_tenants_pool_host_id_fkey' })
  poolHost?: HostEntity;
}
