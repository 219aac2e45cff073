-- The SQL query mode's role reads its tenant's rows, and nothing that describes what other
-- sessions (other tenants' requests) are doing or how much the whole cluster is doing
-- (issue 23, item 8; 009 closed advisory locks, statistics counters and table sizes):
--   * other sessions: the lock table (pg_locks showed another tenant's in-flight answer lock,
--     whose key a guessed question could confirm), who blocks whom, prepared transactions,
--     multixact members;
--   * activity volume: transaction ids and snapshots (txid_current, pg_current_xact_id …), commit
--     timestamps, WAL positions and the control file, replication slots, sequence positions;
--   * state a pooled connection keeps from an earlier request: listened channels, the
--     notification queue, prepared statements, the last sequence value (lastval/currval);
--   * physical storage: file nodes and paths change when any tenant's rows are rewritten.
-- Revoked from PUBLIC, granted back to the roles that run the product: the owner (migrations,
-- `minutebook db …`) and the application role. The views over these functions are revoked too,
-- so that a reader's SELECT says "permission denied" for the view it named.
DO $$
DECLARE
    fn regprocedure;
    view_name text;
BEGIN
    FOR fn IN
        SELECT p.oid::regprocedure FROM pg_proc p
        WHERE p.pronamespace = 'pg_catalog'::regnamespace
          AND (p.proname IN (
                   -- other sessions
                   'pg_lock_status', 'pg_blocking_pids', 'pg_safe_snapshot_blocking_pids',
                   'pg_isolation_test_session_is_blocked', 'pg_prepared_xact', 'pg_get_multixact_members',
                   -- transaction ids, snapshots and commit times
                   'txid_current', 'txid_current_if_assigned', 'txid_current_snapshot', 'txid_status',
                   'pg_current_xact_id', 'pg_current_xact_id_if_assigned', 'pg_current_snapshot',
                   'pg_xact_status', 'pg_export_snapshot', 'pg_xact_commit_timestamp',
                   'pg_xact_commit_timestamp_origin', 'pg_last_committed_xact', 'mxid_age',
                   -- write-ahead log, control file, replication
                   'pg_current_wal_lsn', 'pg_current_wal_insert_lsn', 'pg_current_wal_flush_lsn',
                   'pg_last_wal_receive_lsn', 'pg_last_wal_replay_lsn', 'pg_last_xact_replay_timestamp',
                   'pg_control_checkpoint', 'pg_control_system', 'pg_control_recovery', 'pg_control_init',
                   'pg_get_replication_slots', 'pg_available_wal_summaries', 'pg_wal_summary_contents',
                   'pg_get_wal_summarizer_state', 'pg_logical_emit_message',
                   -- sequences (every tenant draws from the same ones)
                   'nextval', 'currval', 'setval', 'lastval', 'pg_sequence_last_value',
                   'pg_get_sequence_data', 'pg_sequence_parameters',
                   -- what an earlier request left on a pooled connection
                   'pg_listening_channels', 'pg_notification_queue_usage', 'pg_prepared_statement',
                   -- physical storage
                   'pg_relation_filenode', 'pg_relation_filepath', 'pg_filenode_relation')
               OR p.oid = 'pg_catalog.age(xid)'::regprocedure)  -- age(timestamp) stays
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', fn);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I, minutebook_app', fn, current_user);
    END LOOP;

    FOR view_name IN
        SELECT c.relname FROM pg_class c
        WHERE c.relnamespace = 'pg_catalog'::regnamespace AND c.relkind = 'v'
          AND (c.relname IN ('pg_locks', 'pg_prepared_xacts', 'pg_prepared_statements', 'pg_sequences',
                             'pg_replication_slots', 'pg_cursors')
               OR c.relname LIKE 'pg\_stat\_%' OR c.relname LIKE 'pg\_statio\_%')
    LOOP
        EXECUTE format('REVOKE SELECT ON pg_catalog.%I FROM PUBLIC', view_name);
        EXECUTE format('GRANT SELECT ON pg_catalog.%I TO %I, minutebook_app', view_name, current_user);
    END LOOP;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'could not restrict lock, transaction-id and cluster-state functions; the SQL query mode will be unavailable';
END $$;
