-- Several ingest workers share one batch (issue 27, ingest/queue.py): `ingest --workers N` queues
-- every note of the batch, and each worker claims a few at a time (FOR UPDATE SKIP LOCKED) for a
-- lease. A worker that dies leaves its claim to expire; another takes it. Storing a note is
-- idempotent (same content: unchanged), so a note re-claimed after its worker stored it and died
-- is not stored twice.
CREATE TABLE ingest_queue (
    tenant_id      text NOT NULL,
    batch_id       uuid NOT NULL,
    source         text NOT NULL,           -- the note's path, as every worker sees it
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    claimed_by     text,                    -- host:pid of the worker holding it
    claimed_until  timestamptz,
    attempts       int NOT NULL DEFAULT 0,  -- claims so far: a note that kills its workers is given up
    outcome        jsonb,                   -- new | updated | unchanged | failed, chunks, error
    created_at     timestamptz NOT NULL DEFAULT now(),
    done_at        timestamptz,
    PRIMARY KEY (tenant_id, batch_id, source)
);
CREATE INDEX ingest_queue_pending ON ingest_queue (tenant_id, batch_id) WHERE status = 'pending';

ALTER TABLE ingest_queue ENABLE ROW LEVEL SECURITY;
ALTER TABLE ingest_queue FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ingest_queue
    USING (tenant_id = minutebook_tenant()) WITH CHECK (tenant_id = minutebook_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON ingest_queue TO minutebook_app;
