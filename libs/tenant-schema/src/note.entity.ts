import { Check, Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * A note of the current tenant (`notes`), as the tenant application reads and writes it. The
 * table name is unqualified: it is found through the session's search_path, `app` in an instance
 * or pool database, the tenant's own schema on a schema host.
 */
@Entity({ name: 'notes' })
@Index('notes_tenant_created_at_idx', ['tenantId', 'createdAt'])
@Check('notes_text_length_check', 'char_length(text) BETWEEN 1 AND 10000')
export class NoteEntity {
  /**
   * The tenant the note belongs to: always the current tenant, filled by the column's default
   * (`app.tenant_id`) and held to it by row-level security; the application never writes it.
   */
  @Column({ name: 'tenant_id', type: 'uuid', insert: false, update: false })
  tenantId!: string;

  // Not PrimaryGeneratedColumn('uuid'): TypeORM would then try CREATE EXTENSION on every
  // connect, which the app role may not do; gen_random_uuid() is built into PostgreSQL 13+.
  @PrimaryColumn({ type: 'uuid', default: () => 'gen_random_uuid()', primaryKeyConstraintName: 'notes_pkey' })
  id!: string;

  /** 1 to 10,000 characters. */
  @Column({ type: 'text' })
  text!: string;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;
}
