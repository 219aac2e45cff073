-- The words each meeting's notes use (issue 25), in two tables written with its passages and
-- gone with it (foreign keys; ingest/vocabulary.py replaces them whenever passages are written):
-- - note_words, the words as typed: the relevance judge tells a typo of a word the notes use
--   ("integrtion") from a word no note uses by trigram similarity; against every passage's text
--   that took up to 20 s at 100,000 passages (bench/retrieval.py), here it is an index look-up;
-- - note_terms, the full-text lexemes and how many of the meeting's passages hold each: how rare
--   a question's word is in the tenant's notes is a sum over an index, where counting matching
--   passages read up to 1,000 of them per word.
CREATE FUNCTION minutebook_words(t text) RETURNS SETOF text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- letters and digits, hyphenated and dotted words whole ("short-lived", "v2.2.0"), lower case,
    -- as a question types them
    SELECT DISTINCT w FROM (SELECT btrim(p, '-.') AS w FROM regexp_split_to_table(lower(t), '[^[:alnum:].-]+') AS p) s
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

CREATE TABLE note_terms (
    tenant_id   text NOT NULL,
    meeting_id  bigint NOT NULL,
    lexeme      text NOT NULL,
    passages    int NOT NULL,
    PRIMARY KEY (tenant_id, meeting_id, lexeme),
    FOREIGN KEY (tenant_id, meeting_id) REFERENCES meetings (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX note_terms_lexeme ON note_terms (tenant_id, lexeme) INCLUDE (passages);

ALTER TABLE note_words ENABLE ROW LEVEL SECURITY;
ALTER TABLE note_words FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON note_words
    USING (tenant_id = minutebook_tenant()) WITH CHECK (tenant_id = minutebook_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON note_words TO minutebook_app;
ALTER TABLE note_terms ENABLE ROW LEVEL SECURITY;
ALTER TABLE note_terms FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON note_terms
    USING (tenant_id = minutebook_tenant()) WITH CHECK (tenant_id = minutebook_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON note_terms TO minutebook_app;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        PERFORM create_distributed_function('minutebook_words(text)');  -- the workers run it
        PERFORM create_distributed_table('note_words', 'tenant_id', colocate_with => 'meetings');
        PERFORM create_distributed_table('note_terms', 'tenant_id', colocate_with => 'meetings');
    END IF;
END $$;

-- the notes stored before this migration
INSERT INTO note_words (tenant_id, meeting_id, word)
SELECT DISTINCT c.tenant_id, c.meeting_id, w.word FROM chunks c, minutebook_words(c.text) AS w(word);
INSERT INTO note_terms (tenant_id, meeting_id, lexeme, passages)
SELECT c.tenant_id, c.meeting_id, u.lexeme, count(*) FROM chunks c, unnest(c.tsv) AS u
GROUP BY c.tenant_id, c.meeting_id, u.lexeme;
