-- Every key of a tenant table leads with tenant_id (issue 27): a table distributed by tenant_id on
-- Citus keeps its primary keys, unique constraints and foreign keys only when they include the
-- distribution column, and on one server the same keys keep a tenant's rows together in every
-- index. Applied migrations stay as they are; this one re-keys. Ids stay globally unique (identity
-- columns), so every query that finds a row by id still finds exactly that row.

-- Foreign keys first: they hang on the primary keys being replaced.
ALTER TABLE chunks DROP CONSTRAINT chunks_meeting_id_fkey;
ALTER TABLE meeting_attendees DROP CONSTRAINT meeting_attendees_meeting_id_fkey,
                              DROP CONSTRAINT meeting_attendees_person_id_fkey;
ALTER TABLE items DROP CONSTRAINT items_meeting_id_fkey, DROP CONSTRAINT items_chunk_id_fkey;
ALTER TABLE item_owners DROP CONSTRAINT item_owners_item_id_fkey, DROP CONSTRAINT item_owners_person_id_fkey;
ALTER TABLE cache_entry_chunks DROP CONSTRAINT cache_entry_chunks_chunk_id_fkey,
                               DROP CONSTRAINT cache_entry_chunks_entry_id_fkey;
ALTER TABLE cache_hits DROP CONSTRAINT cache_hits_entry_id_fkey;

-- Primary keys and unique constraints.
ALTER TABLE meetings DROP CONSTRAINT meetings_pkey, ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE chunks DROP CONSTRAINT chunks_pkey, ADD PRIMARY KEY (tenant_id, id),
                   DROP CONSTRAINT chunks_meeting_id_ordinal_key, ADD UNIQUE (tenant_id, meeting_id, ordinal);
ALTER TABLE people DROP CONSTRAINT people_pkey, ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE meeting_attendees DROP CONSTRAINT meeting_attendees_pkey, ADD PRIMARY KEY (tenant_id, meeting_id, person_id);
ALTER TABLE items DROP CONSTRAINT items_pkey, ADD PRIMARY KEY (tenant_id, id),
                  DROP CONSTRAINT items_meeting_id_ordinal_key, ADD UNIQUE (tenant_id, meeting_id, ordinal);
ALTER TABLE item_owners DROP CONSTRAINT item_owners_pkey, ADD PRIMARY KEY (tenant_id, item_id, person_id);
ALTER TABLE cache_entries DROP CONSTRAINT cache_entries_pkey, ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE cache_entry_chunks DROP CONSTRAINT cache_entry_chunks_pkey, ADD PRIMARY KEY (tenant_id, entry_id, chunk_id);
ALTER TABLE llm_calls DROP CONSTRAINT llm_calls_pkey, ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE cache_hits DROP CONSTRAINT cache_hits_pkey, ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE questions DROP CONSTRAINT questions_pkey, ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE cache_rejections DROP CONSTRAINT cache_rejections_pkey, ADD PRIMARY KEY (tenant_id, id);

-- Foreign keys again, within the tenant.
ALTER TABLE chunks ADD FOREIGN KEY (tenant_id, meeting_id) REFERENCES meetings (tenant_id, id) ON DELETE CASCADE;
ALTER TABLE meeting_attendees
    ADD FOREIGN KEY (tenant_id, meeting_id) REFERENCES meetings (tenant_id, id) ON DELETE CASCADE,
    ADD FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id) ON DELETE CASCADE;
ALTER TABLE items
    ADD FOREIGN KEY (tenant_id, meeting_id) REFERENCES meetings (tenant_id, id) ON DELETE CASCADE,
    ADD FOREIGN KEY (tenant_id, chunk_id) REFERENCES chunks (tenant_id, id) ON DELETE CASCADE;
ALTER TABLE item_owners
    ADD FOREIGN KEY (tenant_id, item_id) REFERENCES items (tenant_id, id) ON DELETE CASCADE,
    ADD FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id) ON DELETE CASCADE;
ALTER TABLE cache_entry_chunks
    ADD FOREIGN KEY (tenant_id, chunk_id) REFERENCES chunks (tenant_id, id) ON DELETE CASCADE,
    ADD FOREIGN KEY (tenant_id, entry_id) REFERENCES cache_entries (tenant_id, id) ON DELETE CASCADE;
-- a hit outlives its entry (evicted, rejected): only the entry column is cleared
ALTER TABLE cache_hits
    ADD FOREIGN KEY (tenant_id, entry_id) REFERENCES cache_entries (tenant_id, id) ON DELETE SET NULL (entry_id);
