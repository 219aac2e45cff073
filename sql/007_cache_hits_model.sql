-- The cost report groups savings by model; a hit records the model of the answer it served
-- (the entry itself may later be evicted).
ALTER TABLE cache_hits ADD COLUMN model text;
UPDATE cache_hits h SET model = e.model FROM cache_entries e WHERE e.id = h.entry_id;
