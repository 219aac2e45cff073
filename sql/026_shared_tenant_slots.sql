-- Tenant concurrency shared by every API node (issue 27): a tenant's requests in flight (and its
-- SQL-mode statements) are leases in the database, so two `serve` processes hold a tenant to one
-- limit. A lease lapses unless its node renews it, so a killed node's slots come back. The app
-- reaches the table only through the three functions below, one round trip each.
-- On Citus the table stays on the coordinator, as rate_buckets does: it is no tenant's data but the
-- API nodes' counter, written by every request; distributed, each take would hop to a worker, and
-- as a reference table each one would be written to every node.
-- Unlogged: a take commits without waiting for the disk (take + give back, p50 on a busy 2-core
-- machine: 4.4 ms logged, 0.6 ms unlogged; bench/scale.py measures it). A crash or a failover empties it, which frees every slot: the nodes'
-- requests in flight then finish uncounted, and their give-backs find nothing to give.
CREATE UNLOGGED TABLE tenant_slots (
    lease      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope      text NOT NULL,                -- what is limited: 'requests', 'sql'
    tenant_id  text NOT NULL,
    holder     text NOT NULL,                -- host:pid of the node holding it
    until      timestamptz NOT NULL          -- lapses then unless renewed
);
CREATE INDEX tenant_slots_tenant ON tenant_slots (scope, tenant_id);

-- A new lease, or NULL when the tenant already holds p_limit live ones in this scope (p_limit NULL:
-- past the limit, for work that outlives its request). Takers of one tenant's scope queue on a
-- transaction lock, so two nodes cannot both take its last slot; lapsed leases are dropped first.
CREATE FUNCTION minutebook_take_slot(p_scope text, p_tenant text, p_limit integer, p_holder text,
                                     p_lease_seconds double precision)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    taken bigint;
BEGIN
    -- the two-key form: its locks never meet the one-key ones of ingest and the single flight
    PERFORM pg_advisory_xact_lock(hashtext('tenant_slots'), hashtext(p_scope || E'\x1f' || p_tenant));
    DELETE FROM tenant_slots WHERE scope = p_scope AND tenant_id = p_tenant AND until <= clock_timestamp();
    IF p_limit IS NOT NULL
       AND (SELECT count(*) FROM tenant_slots WHERE scope = p_scope AND tenant_id = p_tenant) >= p_limit THEN
        RETURN NULL;
    END IF;
    INSERT INTO tenant_slots (scope, tenant_id, holder, until)
    VALUES (p_scope, p_tenant, p_holder, clock_timestamp() + make_interval(secs => p_lease_seconds))
    RETURNING lease INTO taken;
    RETURN taken;
END $$;
REVOKE ALL ON FUNCTION minutebook_take_slot(text, text, integer, text, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION minutebook_take_slot(text, text, integer, text, double precision) TO minutebook_app;

-- The slot back: whether the lease was still held (false: it had lapsed).
CREATE FUNCTION minutebook_give_slot(p_lease bigint)
RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH given AS (DELETE FROM tenant_slots WHERE lease = p_lease RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM given)
$$;
REVOKE ALL ON FUNCTION minutebook_give_slot(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION minutebook_give_slot(bigint) TO minutebook_app;

-- A node's live leases pushed back by p_lease_seconds: how many it still held (lapsed ones stay lapsed).
CREATE FUNCTION minutebook_renew_slots(p_leases bigint[], p_lease_seconds double precision)
RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH renewed AS (
        UPDATE tenant_slots SET until = clock_timestamp() + make_interval(secs => p_lease_seconds)
        WHERE lease = ANY (p_leases) AND until > clock_timestamp()
        RETURNING 1
    )
    SELECT count(*)::integer FROM renewed
$$;
REVOKE ALL ON FUNCTION minutebook_renew_slots(bigint[], double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION minutebook_renew_slots(bigint[], double precision) TO minutebook_app;
