-- Trust in the models that verify the cache's grey zone (issue 26, cache/trust.py): a model
-- judges only after passing canary pairs, is checked again daily or every N verifications, and
-- loses its trust when it says yes to a pair it should reject or a user rejects an answer it
-- approved. One row per tenant and model; tenant_id leads the key.
CREATE TABLE verifier_trust (
    tenant_id                  text NOT NULL,
    model                      text NOT NULL,
    trusted                    boolean NOT NULL,
    reason                     text NOT NULL,
    canaries_passed            int NOT NULL DEFAULT 0,
    canaries_total             int NOT NULL DEFAULT 0,
    checked_at                 timestamptz NOT NULL DEFAULT now(),
    verifications_since_check  int NOT NULL DEFAULT 0,
    approvals                  int NOT NULL DEFAULT 0,  -- grey-zone hits served on its word
    rejected_approvals         int NOT NULL DEFAULT 0,  -- ...that a user then rejected
    PRIMARY KEY (tenant_id, model)
);

ALTER TABLE verifier_trust ENABLE ROW LEVEL SECURITY;
ALTER TABLE verifier_trust FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON verifier_trust
    USING (tenant_id = minutebook_tenant()) WITH CHECK (tenant_id = minutebook_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON verifier_trust TO minutebook_app;
GRANT SELECT ON verifier_trust TO minutebook_reader;

-- Which model approved a grey-zone hit: a user's rejection of the answer counts against it.
ALTER TABLE cache_hits ADD COLUMN verified_by text;
