-- The fingerprint of every line of every passage (see ingest/boilerplate.py): a line many
-- meetings share is template text, kept out of ranking and answers but still stored and shown.
-- One index and no foreign key: ingest writes a row per line, and per-row key checks cost more
-- than the embedding time it hides behind. store_note deletes a replaced note's rows itself.
CREATE TABLE chunk_lines (
    tenant_id    text NOT NULL,
    meeting_id   bigint NOT NULL,
    ordinal      int NOT NULL,
    fingerprint  bigint NOT NULL
);
CREATE INDEX chunk_lines_tenant_fingerprint ON chunk_lines (tenant_id, fingerprint, meeting_id);

ALTER TABLE chunk_lines ENABLE ROW LEVEL SECURITY;
ALTER TABLE chunk_lines FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON chunk_lines
    USING (tenant_id = minutebook_tenant()) WITH CHECK (tenant_id = minutebook_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON chunk_lines TO minutebook_app;

-- the line an item was read from, to tell a template's checklist from a real commitment
ALTER TABLE items ADD COLUMN line_fingerprint bigint;
