-- The words each meeting's notes use (issue 25). The relevance judge tells a typo of a word the
-- notes use ("integrtion") from a word no note uses by trigram similarity; against every
-- passage's text that took up to 20 s at 100,000 passages (bench/retrieval.py), against this
-- vocabulary it is one small index look-up. A meeting's words go with it (foreign key), and
-- store_note replaces them with its passages.
CREATE FUNCTION minutebook_words(t text) RETURNS SETOF text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- letters and digits, hyphenated words whole ("short-lived"), lower case, as a question types them
    SELECT DISTINCT w FROM (SELECT btrim(p, '-') AS w FROM regexp_split_to_table(lower(t), '[^[:alnum:]-]+') AS p) s
    WHERE length(w) BETWEEN 2 AND 40
$$;

CREATE TABLE note_words (
    tenant_id   text NOT NULL,
    meeting_id  bigint NOT NULL,
    word        text NOT NULL,
    PRIMARY KEY (tenant_id, meeting_id, word),
    FOREIGN KEY (tenant_id, meeting_id) REFERENCES meetings (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX note_words_trgm ON note_words USING gin (word gin_trgm_ops);

ALTER TABLE note_words ENABLE ROW LEVEL SECURITY;
ALTER TABLE note_words FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON note_words
    USING (tenant_id = minutebook_tenant()) WITH CHECK (tenant_id = minutebook_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON note_words TO minutebook_app;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        PERFORM create_distributed_function('minutebook_words(text)');  -- the workers run it
        PERFORM create_distributed_table('note_words', 'tenant_id', colocate_with => 'meetings');
    END IF;
END $$;

-- the notes stored before this migration
INSERT INTO note_words (tenant_id, meeting_id, word)
SELECT DISTINCT c.tenant_id, c.meeting_id, w.word FROM chunks c, minutebook_words(c.text) AS w(word);
