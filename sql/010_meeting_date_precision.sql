-- A meeting's date is a day, a range of days, a month or a quarter, read from where it stands in
-- the note (or given by a user); sections inherit the whole span, so a meeting dated "October
-- 2022" overlaps any time window that overlaps October 2022.
ALTER TABLE meetings ADD COLUMN date_precision text   -- NULL with a date: read from the span itself
    CHECK (date_precision IN ('day', 'range', 'month', 'quarter'));
ALTER TABLE meetings ADD COLUMN date_text text;     -- as written: "October 2022", "30/01/13 - 01/02/13"
ALTER TABLE meetings ADD COLUMN date_source text;   -- given | front matter | date line | title | heading | file name | header
ALTER TABLE meetings ADD COLUMN date_order text     -- the day/month order the note's numeric dates show
    CHECK (date_order IN ('dmy', 'mdy'));
UPDATE meetings SET date_precision = CASE WHEN date_end IS NULL OR date_end = date_start THEN 'day' ELSE 'range' END
    WHERE date_start IS NOT NULL;

ALTER TABLE chunks ADD COLUMN section_date_end date;  -- the last day of the span the section speaks of
UPDATE chunks SET section_date_end = section_date WHERE section_date IS NOT NULL;
CREATE INDEX meetings_tenant_undated ON meetings (tenant_id, id) WHERE date_start IS NULL;

-- A cached answer stops being right when a meeting it could have drawn on moves in time: answers
-- whose time window overlaps the meeting's old or new dates, and answers citing its passages.
CREATE FUNCTION minutebook_window_overlaps(window_key text, first date, last date) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT first IS NOT NULL AND window_key <> ''
       AND (NULLIF(split_part(window_key, '..', 1), '') IS NULL
            OR COALESCE(last, first) >= NULLIF(split_part(window_key, '..', 1), '')::date)
       AND (NULLIF(split_part(window_key, '..', 2), '') IS NULL
            OR first <= NULLIF(split_part(window_key, '..', 2), '')::date)
$$;

CREATE FUNCTION minutebook_drop_redated_answers() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM cache_entries e
    WHERE e.tenant_id = NEW.tenant_id
      AND (minutebook_window_overlaps(e.window_key, OLD.date_start, OLD.date_end)
           OR minutebook_window_overlaps(e.window_key, NEW.date_start, NEW.date_end)
           OR e.id IN (SELECT ec.entry_id FROM cache_entry_chunks ec JOIN chunks c ON c.id = ec.chunk_id
                       WHERE c.meeting_id = NEW.id));
    RETURN NULL;
END $$;
CREATE TRIGGER meetings_redated AFTER UPDATE OF date_start, date_end ON meetings
    FOR EACH ROW WHEN (OLD.date_start IS DISTINCT FROM NEW.date_start OR OLD.date_end IS DISTINCT FROM NEW.date_end)
    EXECUTE FUNCTION minutebook_drop_redated_answers();
