-- The SQL query mode's role may read its tenant's rows and nothing that outlives the request
-- or describes other tenants:
--   * advisory locks (session locks survive the request on a pooled connection and can block
--     migrations and other tenants' ingests), setseed and pg_notify change session or
--     cross-session state; backend signalling is not a reader's business;
--   * table sizes and statistics counters (pg_stat_*, pg_relation_size, pg_class.reltuples)
--     count every tenant's rows.
-- Revoked from PUBLIC, granted back to the roles that need them: the owner (migrations) and the
-- application role (single flight, ingest serialisation). pg_stats already hides tables under
-- row-level security.
DO $$
DECLARE
    fn regprocedure;
    cols text;
BEGIN
    FOR fn IN
        SELECT p.oid::regprocedure FROM pg_proc p
        WHERE p.pronamespace = 'pg_catalog'::regnamespace
          AND (p.proname LIKE 'pg\_advisory\_%' OR p.proname LIKE 'pg\_try\_advisory\_%'
               OR p.proname LIKE 'pg\_stat\_get\_%' OR p.proname LIKE 'pg\_stat\_reset%'
               OR p.proname IN ('setseed', 'pg_notify', 'pg_cancel_backend', 'pg_terminate_backend',
                                'pg_relation_size', 'pg_total_relation_size', 'pg_table_size',
                                'pg_indexes_size', 'pg_database_size', 'pg_tablespace_size'))
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', fn);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I, minutebook_app', fn, current_user);
    END LOOP;

    -- row counts and page counts of every table: readable by the roles that run the product only
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
    FROM pg_attribute
    WHERE attrelid = 'pg_catalog.pg_class'::regclass AND attnum > 0 AND NOT attisdropped
      AND attname NOT IN ('reltuples', 'relpages', 'relallvisible', 'relallfrozen');
    REVOKE SELECT ON pg_catalog.pg_class FROM PUBLIC;
    EXECUTE format('GRANT SELECT (%s) ON pg_catalog.pg_class TO PUBLIC', cols);
    EXECUTE format('GRANT SELECT ON pg_catalog.pg_class TO %I, minutebook_app', current_user);
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'could not restrict session-state and statistics functions; the SQL query mode will be unavailable';
END $$;
