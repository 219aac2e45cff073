-- Rate limits shared by every API node (issue 27): one token bucket per tenant (or per address
-- before sign-in) in the database, so two `serve` processes hold a tenant to one limit. The app
-- reaches the table only through minutebook_take_token(), one statement under the row's lock.
CREATE TABLE rate_buckets (
    bucket       text PRIMARY KEY,            -- a tenant, or 'address' || E'\x1f' || the client address
    tokens       double precision NOT NULL,   -- left after the last request
    granted      boolean NOT NULL,            -- whether the last request was let through
    refilled_at  timestamptz NOT NULL
);

-- The seconds to wait before retrying: 0 when the request may go ahead (and its token is taken).
CREATE FUNCTION minutebook_take_token(p_bucket text, p_rate double precision, p_burst double precision)
RETURNS double precision
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    INSERT INTO rate_buckets AS b (bucket, tokens, granted, refilled_at)
    VALUES (p_bucket, p_burst - 1, true, clock_timestamp())
    ON CONFLICT (bucket) DO UPDATE
       SET tokens = least(p_burst, b.tokens + extract(epoch FROM clock_timestamp() - b.refilled_at) * p_rate)
                    - CASE WHEN least(p_burst, b.tokens + extract(epoch FROM clock_timestamp() - b.refilled_at)
                                      * p_rate) >= 1 THEN 1 ELSE 0 END,
           granted = least(p_burst, b.tokens + extract(epoch FROM clock_timestamp() - b.refilled_at) * p_rate) >= 1,
           refilled_at = clock_timestamp()
    RETURNING CASE WHEN granted THEN 0 ELSE (1 - tokens) / p_rate END
$$;
REVOKE ALL ON FUNCTION minutebook_take_token(text, double precision, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION minutebook_take_token(text, double precision, double precision) TO minutebook_app;
