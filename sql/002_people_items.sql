-- Structured facts pulled out of notes at ingest: people/teams and the items they own.

-- Which parser/extractor produced a meeting's rows: re-ingesting unchanged text with a newer
-- extractor re-extracts instead of skipping.
ALTER TABLE meetings ADD COLUMN extractor_version int NOT NULL DEFAULT 0;

CREATE TABLE people (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('person', 'team')),
    name        text NOT NULL,              -- canonical display name ("Sarah Chen", "Backend")
    key         text NOT NULL,              -- normalised name, unique per tenant
    role        text,                       -- "Backend Lead", as last written
    aliases     text[] NOT NULL DEFAULT '{}',
    UNIQUE (tenant_id, key)
);
CREATE INDEX people_name_trgm ON people USING gin (name gin_trgm_ops);
CREATE INDEX people_aliases ON people USING gin (aliases);

CREATE TABLE meeting_attendees (
    tenant_id   text NOT NULL,
    meeting_id  bigint NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    person_id   bigint NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    role        text,
    PRIMARY KEY (meeting_id, person_id)
);
CREATE INDEX meeting_attendees_person ON meeting_attendees (person_id);

CREATE TABLE items (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   text NOT NULL,
    meeting_id  bigint NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    chunk_id    bigint REFERENCES chunks (id) ON DELETE CASCADE,
    ordinal     int NOT NULL,               -- position within the meeting
    kind        text NOT NULL CHECK (kind IN ('action', 'risk', 'decision', 'priority', 'milestone')),
    text        text NOT NULL,              -- the item, cleaned of owner/date markup
    detail      text NOT NULL DEFAULT '',   -- nested lines: mitigation, impact, sub-steps
    owner_text  text,                       -- owners as written ("Security team + Backend")
    status      text NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'in_progress', 'done', 'approved', 'deferred', 'rejected')),
    status_text text,                       -- as written ("Design phase")
    due_start   date,                       -- ranges ("Dec 16-20") keep both ends
    due_date    date,
    due_text    text,
    source_line int NOT NULL,               -- 0-based line of the evidence in the note
    evidence    text NOT NULL,              -- the source line(s) as written
    embedding   vector(384) NOT NULL,
    tsv         tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('english', text), 'A')
                    || setweight(to_tsvector('english', detail), 'C')) STORED,
    UNIQUE (meeting_id, ordinal)
);
CREATE INDEX items_tenant_meeting ON items (tenant_id, meeting_id);
CREATE INDEX items_tenant_due ON items (tenant_id, due_date);
CREATE INDEX items_embedding_hnsw ON items USING hnsw (embedding vector_cosine_ops);
CREATE INDEX items_tsv ON items USING gin (tsv);
CREATE INDEX items_text_trgm ON items USING gin (text gin_trgm_ops);

CREATE TABLE item_owners (
    tenant_id   text NOT NULL,
    item_id     bigint NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    person_id   bigint NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    position    int NOT NULL,
    written_as  text NOT NULL,              -- "Sarah", "Mike (DevOps Lead)"
    PRIMARY KEY (item_id, person_id)
);
CREATE INDEX item_owners_person ON item_owners (person_id);

ALTER TABLE people ENABLE ROW LEVEL SECURITY;
ALTER TABLE people FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON people
    USING (tenant_id = minutebook_tenant()) WITH CHECK (tenant_id = minutebook_tenant());
ALTER TABLE meeting_attendees ENABLE ROW LEVEL SECURITY;
ALTER TABLE meeting_attendees FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON meeting_attendees
    USING (tenant_id = minutebook_tenant()) WITH CHECK (tenant_id = minutebook_tenant());
ALTER TABLE items ENABLE ROW LEVEL SECURITY;
ALTER TABLE items FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON items
    USING (tenant_id = minutebook_tenant()) WITH CHECK (tenant_id = minutebook_tenant());
ALTER TABLE item_owners ENABLE ROW LEVEL SECURITY;
ALTER TABLE item_owners FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON item_owners
    USING (tenant_id = minutebook_tenant()) WITH CHECK (tenant_id = minutebook_tenant());
