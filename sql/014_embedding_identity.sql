-- What the stored vectors were made with: the model (by hash) and the runtime, e.g.
-- "all-MiniLM-L6-v2@da67fc51bcc529c6/onnx-int8" (core/embedding_identity.py). Vectors of two
-- identities are never mixed: the app refuses and names `minutebook reembed`, which re-embeds
-- in batches and marks each row it has done, so it can stop and resume.
CREATE TABLE store_meta (
    key         text PRIMARY KEY,   -- 'embedding': the identity; 'reembed_to': a re-embed under way
    value       text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON store_meta TO minutebook_app;

ALTER TABLE chunks ADD COLUMN embedded_with text;  -- NULL: what store_meta 'embedding' says
ALTER TABLE items ADD COLUMN embedded_with text;
-- what an item's vector was made from, so it can be made again (older rows: text and detail)
ALTER TABLE items ADD COLUMN embed_text text;

-- A store from before this record holds vectors from sentence-transformers on torch, the only
-- runtime there was; the app names the model when it first reads this.
INSERT INTO store_meta (key, value)
SELECT 'embedding', 'legacy/torch'
WHERE EXISTS (SELECT 1 FROM chunks)
   OR COALESCE((SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'chunks'), 0) > 0;

-- the first ingest into an empty store records what made its vectors
GRANT INSERT, UPDATE ON store_meta TO minutebook_app;
