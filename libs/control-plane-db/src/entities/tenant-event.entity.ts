import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { TenantEntity } from './tenant.entity';

/**
 * One line of a tenant's audit trail. Append-only: the database refuses UPDATE and DELETE on
 * this table (trigger `tenant_events_append_only`).
 */
@Entity({ name: 'tenant_events' })
@Index('tenant_events_tenant_id_id_idx', ['tenantId', 'id'])
export class TenantEventEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id!: string;

  @Column({ name: 'tenant_id', type: 'uuid' })
  tenantId!: string;

  @ManyToOne(() => TenantEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'tenant_id', foreignKeyConstraintName: 'tenant_events_tenant_id_fkey' })
  tenant?: TenantEntity;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  at!: Date;

  /** Dotted name, e.g. `tenant.created`, `step.failed`. */
  @Column({ type: 'varchar', length: 64 })
  type!: string;

  @Column({ type: 'text' })
  message!: string;

  /** JWT `sub` of the caller, or `system:<component>` for the worker and reconciler. */
  @Column({ type: 'varchar', length: 200 })
  actor!: string;

  @Column({ type: 'jsonb', default: {} })
  data!: Record<string, unknown>;

  /** The request id or job id the event came from. */
  @Column({ name: 'correlation_id', type: 'varchar', length: 128, nullable: true })
  correlationId!: string | null;
}
