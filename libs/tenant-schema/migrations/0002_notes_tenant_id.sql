-- Databases that applied the first 0001 (before every tenant table carried tenant_id) get the
-- column here, filled with their tenant (Silo sets app.tenant_id while it migrates an instance),
-- and the index the newer 0001 makes. Where the newer 0001 ran, both already exist: nothing changes.
ALTER TABLE notes ADD COLUMN IF NOT EXISTS tenant_id uuid NOT NULL
  DEFAULT NULLIF(current_setting('app.tenant_id', true), '')::uuid;

CREATE INDEX IF NOT EXISTS notes_tenant_created_at_idx ON notes (tenant_id, created_at);
DROP INDEX IF EXISTS notes_created_at_idx;
