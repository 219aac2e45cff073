-- The role that runs user-supplied SQL (the SQL query mode). It can only read the tenant
-- tables, row-level security confines it to the tenant of the transaction, and it cannot
-- change settings (set_config), so it cannot switch tenant or role from inside a SELECT.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'minutebook_reader') THEN
        CREATE ROLE minutebook_reader NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END $$;

GRANT USAGE ON SCHEMA public TO minutebook_reader;
GRANT SELECT ON meetings, chunks, people, meeting_attendees, items, item_owners TO minutebook_reader;

DO $$
BEGIN
    EXECUTE format('GRANT minutebook_reader TO %I', current_user);
EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN
    RAISE WARNING 'could not let % switch to minutebook_reader; the SQL query mode will be unavailable',
        current_user;
END $$;

DO $$
BEGIN
    REVOKE EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) FROM PUBLIC;
    EXECUTE format('GRANT EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) TO %I', current_user);
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'could not restrict set_config; the SQL query mode will be unavailable';
END $$;

CREATE INDEX meetings_tenant_title ON meetings (tenant_id, lower(title));
