-- What questions about nothing in the notes reach in a tenant's notes (issue 25): the bar the
-- relevance judge (search/relevance.py) sets a question's best passage against. One row per
-- tenant, recomputed at question time when the notes (their count or latest ingest) or the
-- embedding model differ from what it was measured on.
CREATE TABLE relevance_calibration (
    tenant_id      text PRIMARY KEY,
    embedded_with  text NOT NULL,
    meetings       bigint NOT NULL,
    latest_ingest  timestamptz,
    unrelated      real NOT NULL,  -- mean best-passage cosine of the unrelated questions
    computed_at    timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE relevance_calibration ENABLE ROW LEVEL SECURITY;
ALTER TABLE relevance_calibration FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON relevance_calibration
    USING (tenant_id = minutebook_tenant()) WITH CHECK (tenant_id = minutebook_tenant());
GRANT SELECT, INSERT, UPDATE ON relevance_calibration TO minutebook_app;
