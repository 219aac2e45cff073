-- The API: keys that map to a tenant, and the role the application runs as.

-- Keys are stored as sha256 only; the key itself is shown once, when created.
CREATE TABLE api_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   text NOT NULL,
    key_hash    text NOT NULL UNIQUE,
    prefix      text NOT NULL,              -- first characters, to tell keys apart in listings
    label       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    last_used_at timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- The application role: logs in, reads and writes tenant tables, and is subject to row-level
-- security (NOBYPASSRLS, not a superuser), so a bug in Python cannot reach another tenant.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'minutebook_app') THEN
        CREATE ROLE minutebook_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE INHERIT;
    END IF;
END $$;

GRANT USAGE ON SCHEMA public TO minutebook_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    meetings, chunks, people, meeting_attendees, items, item_owners,
    cache_entries, cache_entry_chunks, llm_calls, cache_hits, questions
    TO minutebook_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO minutebook_app;
GRANT SELECT ON schema_migrations TO minutebook_app;
-- the SQL query mode switches to the read-only role for user-supplied statements
GRANT minutebook_reader TO minutebook_app;

DO $$
BEGIN
    GRANT EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) TO minutebook_app;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'could not grant set_config to minutebook_app';
END $$;

-- The app never reads api_keys directly: it asks for the tenant of a key hash, nothing else.
REVOKE ALL ON api_keys FROM PUBLIC;
CREATE FUNCTION minutebook_tenant_for_key(p_hash text) RETURNS text
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    UPDATE api_keys SET last_used_at = now()
    WHERE key_hash = p_hash AND revoked_at IS NULL
    RETURNING tenant_id
$$;
REVOKE ALL ON FUNCTION minutebook_tenant_for_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION minutebook_tenant_for_key(text) TO minutebook_app;

-- True when at least one live key exists: the API refuses to run keyless off loopback.
CREATE FUNCTION minutebook_keys_configured() RETURNS boolean
LANGUAGE sql SECURITY DEFINER STABLE SET search_path = public, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL)
$$;
REVOKE ALL ON FUNCTION minutebook_keys_configured() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION minutebook_keys_configured() TO minutebook_app;
