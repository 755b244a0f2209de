import { Check, Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

export const ROLLOUT_STATUSES = ['RUNNING', 'PAUSED', 'SUCCEEDED', 'ABORTED', 'FAILED'] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];

/** Why a rollout is PAUSED: an operator, failed tenants reaching the threshold, or an approval gate. */
export const ROLLOUT_PAUSE_KINDS = ['operator', 'failures', 'approval'] as const;
export type RolloutPauseKind = (typeof ROLLOUT_PAUSE_KINDS)[number];

/** One wave of a rollout's plan; wave 0 is the canary when there is one. */
export interface RolloutWave {
  index: number;
  kind: 'canary' | 'wave';
  /** Cumulative percentage of the migration targets after the canary (null for the canary). */
  percent: number | null;
  /** Tenants in the wave. */
  size: number;
  /**
   * Migration targets in the wave (a pool database counts once); absent in plans made before
   * pool targets, where every tenant was one.
   */
  targets?: number;
}

/**
 * A schema rollout: every eligible tenant moved to `targetVersion`, wave by wave. At most one is
 * RUNNING or PAUSED at a time (partial unique index `schema_rollouts_one_open`).
 */
@Entity({ name: 'schema_rollouts' })
@Index('schema_rollouts_created_at_id_idx', ['createdAt', 'id'])
// An expression index TypeORM cannot describe: made by the migration, left alone by the schema diff.
@Index('schema_rollouts_one_open', { synchronize: false })
@Check('schema_rollouts_status_known', `status IN ('RUNNING','PAUSED','SUCCEEDED','ABORTED','FAILED')`)
@Check('schema_rollouts_pause_kind_known', `pause_kind IN ('operator','failures','approval')`)
export class SchemaRolloutEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'schema_rollouts_pkey' })
  id!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: RolloutStatus;

  @Column({ name: 'target_version', type: 'varchar', length: 64 })
  targetVersion!: string;

  @Column({ type: 'integer' })
  canary!: number;

  /** The requested cumulative percentages. */
  @Column({ name: 'wave_percents', type: 'jsonb' })
  wavePercents!: number[];

  /** The plan: waves with tenants, in order. */
  @Column({ type: 'jsonb' })
  plan!: RolloutWave[];

  @Column({ name: 'max_concurrency', type: 'integer' })
  maxConcurrency!: number;

  @Column({ name: 'failure_threshold', type: 'integer' })
  failureThreshold!: number;

  @Column({ name: 'pause_between_waves', type: 'boolean' })
  pauseBetweenWaves!: boolean;

  /** null: every tier. */
  @Column({ type: 'jsonb', nullable: true })
  tiers!: string[] | null;

  /** The wave tenants are started from. */
  @Column({ name: 'current_wave', type: 'integer', default: 0 })
  currentWave!: number;

  /** With pauseBetweenWaves: the highest wave an operator let start. */
  @Column({ name: 'approved_wave', type: 'integer', default: 0 })
  approvedWave!: number;

  @Column({ name: 'pause_kind', type: 'varchar', length: 16, nullable: true })
  pauseKind!: RolloutPauseKind | null;

  @Column({ name: 'paused_reason', type: 'text', nullable: true })
  pausedReason!: string | null;

  @Column({ name: 'created_by', type: 'varchar', length: 200 })
  createdBy!: string;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;

  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;
}
