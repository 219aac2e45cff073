-- Meetings and their section-aware chunks: the evidence every answer stands on.
CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- The tenant of the current transaction; every tenant table's row-level
-- security policy reads it, so a query can only see its own tenant's rows.
CREATE OR REPLACE FUNCTION minutebook_tenant() RETURNS text
LANGUAGE sql STABLE AS $$ SELECT current_setting('minutebook.tenant', true) $$;

-- array_to_string is only STABLE in general, but for text[] it cannot change: safe to index.
CREATE OR REPLACE FUNCTION minutebook_path_text(text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT array_to_string($1, ' ') $$;

CREATE TABLE meetings (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     text NOT NULL,
    source        text NOT NULL,            -- path or upload name: the note's identity
    title         text NOT NULL,
    date_start    date,
    date_end      date,
    attendees     jsonb NOT NULL DEFAULT '[]',
    content_hash  text NOT NULL,            -- sha256 of the decoded text
    raw_text      text NOT NULL,
    encoding      text NOT NULL DEFAULT 'utf-8',
    ingested_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, source)
);
CREATE INDEX meetings_tenant_hash ON meetings (tenant_id, content_hash);
CREATE INDEX meetings_tenant_date ON meetings (tenant_id, date_start);
CREATE INDEX meetings_title_trgm ON meetings USING gin (title gin_trgm_ops);

CREATE TABLE chunks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     text NOT NULL,
    meeting_id    bigint NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    ordinal       int NOT NULL,             -- position within the meeting
    section_path  text[] NOT NULL,
    section_date  date,                     -- the day the section speaks of
    text          text NOT NULL,            -- what users read
    embed_text    text NOT NULL,            -- what was embedded: title, date and path prefix + text
    token_count   int NOT NULL,
    line_start    int NOT NULL,             -- 0-based source line span, inclusive
    line_end      int NOT NULL,
    content_hash  text NOT NULL,            -- lets cached answers detect changed evidence
    embedding     vector(384) NOT NULL,
    tsv           tsvector GENERATED ALWAYS AS (
                      setweight(to_tsvector('english', minutebook_path_text(section_path)), 'B')
                      || setweight(to_tsvector('english', text), 'A')) STORED,
    UNIQUE (meeting_id, ordinal)
);
CREATE INDEX chunks_tenant_meeting ON chunks (tenant_id, meeting_id);
CREATE INDEX chunks_tenant_date ON chunks (tenant_id, section_date);
CREATE INDEX chunks_embedding_hnsw ON chunks USING hnsw (embedding vector_cosine_ops);
CREATE INDEX chunks_tsv ON chunks USING gin (tsv);
CREATE INDEX chunks_text_trgm ON chunks USING gin (text gin_trgm_ops);

ALTER TABLE meetings ENABLE ROW LEVEL SECURITY;
ALTER TABLE meetings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON meetings
    USING (tenant_id = minutebook_tenant()) WITH CHECK (tenant_id = minutebook_tenant());
ALTER TABLE chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE chunks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON chunks
    USING (tenant_id = minutebook_tenant()) WITH CHECK (tenant_id = minutebook_tenant());
