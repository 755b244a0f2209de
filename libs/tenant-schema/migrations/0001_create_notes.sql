-- The example tenant app's schema: notes, read and written through the data-plane router.
-- Written once for every placement: names are unqualified (Silo runs the migrations with
-- search_path set to the target's schema) and every table carries tenant_id uuid NOT NULL, on
-- which Silo enables and forces row-level security after the migration. Its default, the current
-- tenant (app.tenant_id), is set by Silo too.
CREATE TABLE notes (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  text text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT notes_pkey PRIMARY KEY (id),
  CONSTRAINT notes_text_length_check CHECK (char_length(text) BETWEEN 1 AND 10000)
);

-- tenant_id leads: in a pool database every read is filtered by it.
CREATE INDEX notes_tenant_created_at_idx ON notes (tenant_id, created_at);
