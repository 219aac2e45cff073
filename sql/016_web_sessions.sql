-- Web sign-ins the server can end (issue 23, item 10). The signed session cookie names a row
-- here; signing out deletes the row, so a copy of the cookie stops working at once, not when it
-- expires. Only the sha256 of the session id is stored: the table cannot be turned back into a
-- cookie (which also needs the server's signature).
CREATE TABLE web_sessions (
    tenant_id   text NOT NULL,
    id_hash     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id_hash)
);
CREATE INDEX web_sessions_expiry ON web_sessions (tenant_id, expires_at);

ALTER TABLE web_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE web_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON web_sessions
    USING (tenant_id = minutebook_tenant()) WITH CHECK (tenant_id = minutebook_tenant());
-- the app role only; the SQL mode's reader has no business with sessions
GRANT SELECT, INSERT, DELETE ON web_sessions TO minutebook_app;
