-- On Citus (issue 27), tenant tables are distributed by tenant_id and co-located, so one tenant's
-- rows of every table live on one worker and a tenant's queries run there; the API keys, looked
-- up before any tenant is known, are a reference table on every node. On plain PostgreSQL (no
-- citus extension) this migration changes only what both need alike:
-- - the two trigger functions name the tenant (on Citus, a statement that names it runs on one
--   worker instead of all of them);
-- - a cache hit keeps the id of the entry it served as history, with no foreign key: Citus cannot
--   clear one column of a key that includes tenant_id (ON DELETE SET NULL (entry_id)), and ids
--   are never reused, so an id whose entry is gone (evicted, rejected) names nothing else.
ALTER TABLE cache_hits DROP CONSTRAINT cache_hits_tenant_id_entry_id_fkey;

CREATE OR REPLACE FUNCTION minutebook_drop_stale_answer() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM cache_entries WHERE tenant_id = OLD.tenant_id AND id = OLD.entry_id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION minutebook_drop_redated_answers() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM cache_entries e
    WHERE e.tenant_id = NEW.tenant_id
      AND (minutebook_window_overlaps(e.window_key, OLD.date_start, OLD.date_end)
           OR minutebook_window_overlaps(e.window_key, NEW.date_start, NEW.date_end)
           OR e.id IN (SELECT ec.entry_id FROM cache_entry_chunks ec
                       JOIN chunks c ON c.tenant_id = ec.tenant_id AND c.id = ec.chunk_id
                       WHERE ec.tenant_id = NEW.tenant_id AND c.meeting_id = NEW.id));
    RETURN NULL;
END $$;

DO $$
DECLARE
    t text;
    lockdown text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    -- Citus opens its connections to the workers as the role running the query: SQL mode's reader
    -- must be able to log in there (it still has no password, and row-level security and the
    -- grants of 003/009 bind it on every node)
    ALTER ROLE minutebook_reader LOGIN;
    -- ...so the workers lock the reader out of what the coordinator does (003, 009, 015: session
    -- state, statistics, transaction ids): every pg_catalog function and view it may not use here
    -- is revoked from PUBLIC there too, and granted back to the roles that run the product
    SELECT string_agg(cmd, '; ') INTO lockdown FROM (
        SELECT format('REVOKE EXECUTE ON FUNCTION %1$s FROM PUBLIC; GRANT EXECUTE ON FUNCTION %1$s TO %2$I, '
                      'minutebook_app', p.oid::regprocedure, current_user) AS cmd
        FROM pg_proc p
        WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proacl IS NOT NULL
          AND NOT has_function_privilege('minutebook_reader', p.oid, 'EXECUTE')
        UNION ALL
        SELECT format('REVOKE SELECT ON pg_catalog.%1$I FROM PUBLIC; GRANT SELECT ON pg_catalog.%1$I TO %2$I, '
                      'minutebook_app', c.relname, current_user)
        FROM pg_class c
        WHERE c.relnamespace = 'pg_catalog'::regnamespace AND c.relkind = 'v' AND c.relacl IS NOT NULL
          AND NOT has_table_privilege('minutebook_reader', c.oid, 'SELECT')
        UNION ALL
        SELECT format('REVOKE SELECT ON pg_catalog.pg_class FROM PUBLIC; GRANT SELECT (%s) ON pg_catalog.pg_class '
                      'TO PUBLIC; GRANT SELECT ON pg_catalog.pg_class TO %I, minutebook_app',
                      string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum), current_user)
        FROM pg_attribute a
        WHERE a.attrelid = 'pg_catalog.pg_class'::regclass AND a.attnum > 0 AND NOT a.attisdropped
          AND has_column_privilege('minutebook_reader', 'pg_catalog.pg_class'::regclass, a.attnum, 'SELECT')
    ) commands;
    IF lockdown IS NOT NULL THEN
        PERFORM run_command_on_workers(lockdown);
    END IF;
    -- the two triggers above run on the shards (they name the tenant, so they stay on its worker)
    SET LOCAL citus.enable_unsafe_triggers = on;
    PERFORM create_reference_table('api_keys');
    PERFORM create_distributed_table('meetings', 'tenant_id');
    FOREACH t IN ARRAY ARRAY['people', 'cache_entries', 'chunks', 'items', 'meeting_attendees', 'item_owners',
                             'cache_entry_chunks', 'cache_hits', 'llm_calls', 'questions', 'cache_rejections',
                             'chunk_lines', 'web_sessions', 'relevance_calibration', 'verifier_trust',
                             'ingest_queue'] LOOP
        PERFORM create_distributed_table(t, 'tenant_id', colocate_with => 'meetings');
    END LOOP;
END $$;
