import { Check, Column, Entity, PrimaryColumn } from 'typeorm';

export type OrphanType = 'instance' | 'secret' | 'alarm' | 'snapshot';
export const ORPHAN_TYPES: readonly OrphanType[] = ['instance', 'secret', 'alarm', 'snapshot'];

/**
 * An AWS resource tagged for this environment that no live tenant owns, as the last pass saw
 * it. Never deleted by a pass; POST /v1/orphans/delete removes the ones asked for.
 */
@Entity({ name: 'reconcile_orphans' })
@Check('reconcile_orphans_type_known', `type IN ('instance', 'secret', 'alarm', 'snapshot')`)
export class ReconcileOrphanEntity {
  @PrimaryColumn({ type: 'varchar', length: 16, primaryKeyConstraintName: 'reconcile_orphans_pkey' })
  type!: OrphanType;

  /** Instance or snapshot identifier, secret name, alarm name. */
  @PrimaryColumn({ type: 'varchar', length: 512, primaryKeyConstraintName: 'reconcile_orphans_pkey' })
  name!: string;

  @Column({ type: 'varchar', length: 2048 })
  arn!: string;

  /** The `silo:tenant-id` tag as found (no tenant, or a DELETED one). */
  @Column({ name: 'tenant_id', type: 'varchar', length: 200 })
  tenantId!: string;

  @Column({ type: 'jsonb', default: {} })
  tags!: Record<string, string>;

  @Column({ name: 'first_seen_at', type: 'timestamptz', default: () => 'now()' })
  firstSeenAt!: Date;

  @Column({ name: 'last_seen_at', type: 'timestamptz', default: () => 'now()' })
  lastSeenAt!: Date;

  @Column({ name: 'deletion_requested_at', type: 'timestamptz', nullable: true })
  deletionRequestedAt!: Date | null;

  /** Why the requested deletion was refused or failed. */
  @Column({ name: 'deletion_error', type: 'text', nullable: true })
  deletionError!: string | null;
}
