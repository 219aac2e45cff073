-- A cached answer serves a paraphrase when both questions ask the same kind of thing (intent)
-- about the same things (entities) over the same evidence, not when they share every rare word
-- (cache/shape.py). Entries cached under the old rule lack what the new one checks: dropped
-- (the ledger keeps their history; cache_hits.entry_id goes NULL).
DELETE FROM cache_entries;
ALTER TABLE cache_entries DROP COLUMN key_terms;
ALTER TABLE cache_entries
    ADD COLUMN intent   text NOT NULL DEFAULT 'what',   -- who | when | why | what (the family that must agree)
    ADD COLUMN negated  boolean NOT NULL DEFAULT false,
    ADD COLUMN entities text[] NOT NULL DEFAULT '{}';   -- "person:12", "n:57893", "w:okta", "q:quoted"

-- Answers people marked wrong. No answer for the same intent citing exactly these chunks is
-- served from the cache (or stored in it) again for the tenant.
CREATE TABLE cache_rejections (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   text NOT NULL,
    entry_id    bigint,                  -- the entry, deleted when rejected
    question    text NOT NULL,
    answer      text NOT NULL,
    intent      text NOT NULL,
    chunk_ids   bigint[] NOT NULL,       -- sorted: what the rejected answer cited
    cost_usd    numeric(14, 8),          -- what the answer had cost
    hit_count   int NOT NULL DEFAULT 0,  -- how often it had been served
    reason      text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cache_rejections_lookup ON cache_rejections (tenant_id, intent, chunk_ids);

ALTER TABLE cache_rejections ENABLE ROW LEVEL SECURITY;
ALTER TABLE cache_rejections FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON cache_rejections
    USING (tenant_id = minutebook_tenant()) WITH CHECK (tenant_id = minutebook_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON cache_rejections TO minutebook_app;
GRANT SELECT ON cache_rejections TO minutebook_reader;
