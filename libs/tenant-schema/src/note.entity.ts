import { Check, Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** A note in a tenant database (`app.notes`), as the tenant application reads and writes it. */
@Entity({ schema: 'app', name: 'notes' })
@Index('notes_created_at_idx', ['createdAt'])
@Check('notes_text_length_check', 'char_length(text) BETWEEN 1 AND 10000')
export class NoteEntity {
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
