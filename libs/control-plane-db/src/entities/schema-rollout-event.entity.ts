import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { SchemaRolloutEntity } from './schema-rollout.entity';

/** A rollout's audit trail: started, paused, resumed, aborted, finished, with the actor. */
@Entity({ name: 'schema_rollout_events' })
@Index('schema_rollout_events_rollout_id_id_idx', ['rolloutId', 'id'])
export class SchemaRolloutEventEntity {
  @PrimaryGeneratedColumn('identity', {
    type: 'bigint',
    generatedIdentity: 'ALWAYS',
    primaryKeyConstraintName: 'schema_rollout_events_pkey',
  })
  id!: string;

  @Column({ name: 'rollout_id', type: 'uuid' })
  rolloutId!: string;

  @ManyToOne(() => SchemaRolloutEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'rollout_id', foreignKeyConstraintName: 'schema_rollout_events_rollout_id_fkey' })
  rollout?: SchemaRolloutEntity;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  at!: Date;

  @Column({ type: 'varchar', length: 64 })
  type!: string;

  @Column({ type: 'text' })
  message!: string;

  @Column({ type: 'varchar', length: 200 })
  actor!: string;

  @Column({ type: 'jsonb', default: {} })
  data!: Record<string, unknown>;

  @Column({ name: 'correlation_id', type: 'varchar', length: 128, nullable: true })
  correlationId!: string | null;
}
