import type { MigrationInterface, QueryRunner } from 'typeorm';

export class TenantNotes1795400000000 implements MigrationInterface {
  name = 'TenantNotes1795400000000';

  async up(q: QueryRunner): Promise<void> {
    // The schema may already exist: bootstrapping the app role creates it to grant on it.
    await q.query(`CREATE SCHEMA IF NOT EXISTS app`);
    await q.query(`
      CREATE TABLE app.notes (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        text text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT notes_pkey PRIMARY KEY (id),
        CONSTRAINT notes_text_length_check CHECK (char_length(text) BETWEEN 1 AND 10000)
      )`);
    await q.query(`CREATE INDEX notes_created_at_idx ON app.notes (created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    // The schema stays: the app role's grants and default privileges hang on it.
    await q.query(`DROP TABLE app.notes`);
  }
}
