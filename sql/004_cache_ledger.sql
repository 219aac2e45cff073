-- The semantic cache in front of the LLM, and the ledger of what every question cost or saved.

CREATE TABLE cache_entries (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id         text NOT NULL,
    model             text NOT NULL,
    prompt_version    text NOT NULL,
    question          text NOT NULL,
    question_norm     text NOT NULL,             -- lower-cased, punctuation and spacing folded
    question_hash     text NOT NULL,             -- sha256 of question_norm + window_key
    window_key        text NOT NULL DEFAULT '',  -- resolved date window ("2025-11-17..2025-11-23")
    key_terms         text[] NOT NULL DEFAULT '{}',
    embedding         vector(384) NOT NULL,
    answer            text NOT NULL,
    citations         jsonb NOT NULL DEFAULT '[]',
    prompt_tokens     int NOT NULL DEFAULT 0,
    completion_tokens int NOT NULL DEFAULT 0,
    cached_tokens     int NOT NULL DEFAULT 0,
    cost_usd          numeric(14, 8),            -- null when the model's price is unknown
    latency_ms        int NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    last_hit_at       timestamptz,
    hit_count         int NOT NULL DEFAULT 0
);
CREATE INDEX cache_entries_exact ON cache_entries (tenant_id, model, prompt_version, question_hash);
CREATE INDEX cache_entries_lru ON cache_entries (tenant_id, (COALESCE(last_hit_at, created_at)));
CREATE INDEX cache_entries_embedding ON cache_entries USING hnsw (embedding vector_cosine_ops);

-- The evidence an answer cites, with the content it had. Deleting a chunk (a note re-ingested
-- or changed) deletes the link, and the trigger below deletes the answer with it.
CREATE TABLE cache_entry_chunks (
    tenant_id     text NOT NULL,
    entry_id      bigint NOT NULL REFERENCES cache_entries (id) ON DELETE CASCADE,
    chunk_id      bigint NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,
    content_hash  text NOT NULL,
    PRIMARY KEY (entry_id, chunk_id)
);
CREATE INDEX cache_entry_chunks_chunk ON cache_entry_chunks (chunk_id);

CREATE FUNCTION minutebook_drop_stale_answer() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM cache_entries WHERE id = OLD.entry_id;
    RETURN NULL;
END $$;
CREATE TRIGGER cache_entry_chunks_gone AFTER DELETE ON cache_entry_chunks
    FOR EACH ROW EXECUTE FUNCTION minutebook_drop_stale_answer();

-- One row per LLM request, failures included.
CREATE TABLE llm_calls (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id         text NOT NULL,
    purpose           text NOT NULL,
    model             text NOT NULL,
    prompt_tokens     int NOT NULL DEFAULT 0,
    completion_tokens int NOT NULL DEFAULT 0,
    cached_tokens     int NOT NULL DEFAULT 0,
    cost_usd          numeric(14, 8),
    latency_ms        int NOT NULL,
    outcome           text NOT NULL,             -- ok | rate_limited | server_error | timeout | connection_error | error
    status_code       int,
    error             text,
    question_hash     text,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX llm_calls_tenant_time ON llm_calls (tenant_id, created_at);

-- One row per cache hit: what it saved.
CREATE TABLE cache_hits (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id         text NOT NULL,
    entry_id          bigint REFERENCES cache_entries (id) ON DELETE SET NULL,
    question          text NOT NULL,
    cached_question   text NOT NULL,
    tier              text NOT NULL CHECK (tier IN ('exact', 'semantic')),
    similarity        real NOT NULL,
    tokens_saved      int NOT NULL,
    cost_saved_usd    numeric(14, 8),
    latency_saved_ms  int NOT NULL,
    latency_ms        int NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cache_hits_tenant_time ON cache_hits (tenant_id, created_at);

-- Every question asked, however it was answered.
CREATE TABLE questions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     text NOT NULL,
    question      text NOT NULL,
    question_norm text NOT NULL,
    outcome       text NOT NULL,  -- hit_exact | hit_semantic | llm | not_in_notes | extractive | failed
    model         text,
    cost_usd      numeric(14, 8),
    latency_ms    int NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX questions_tenant_time ON questions (tenant_id, created_at);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['cache_entries', 'cache_entry_chunks', 'llm_calls', 'cache_hits', 'questions'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = minutebook_tenant())'
                       ' WITH CHECK (tenant_id = minutebook_tenant())', t);
    END LOOP;
END $$;

GRANT SELECT ON cache_entries, cache_hits, llm_calls, questions TO minutebook_reader;
