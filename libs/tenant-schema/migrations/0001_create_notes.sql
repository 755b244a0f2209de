-- The example tenant app's schema: app.notes, read and written through the data-plane router.
-- The schema may already exist: bootstrapping the app role creates it to grant on it.
CREATE SCHEMA IF NOT EXISTS app;

CREATE TABLE app.notes (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  text text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT notes_pkey PRIMARY KEY (id),
  CONSTRAINT notes_text_length_check CHECK (char_length(text) BETWEEN 1 AND 10000)
);

CREATE INDEX notes_created_at_idx ON app.notes (created_at);
