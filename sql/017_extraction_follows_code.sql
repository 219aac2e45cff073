-- The extraction version is derived from the source of the modules that read a note (a short
-- sha256, ingest/store.py `extractor_version()`), no longer a number bumped by hand. Older rows
-- keep their number as text, which no derived version equals: they are re-extracted.
ALTER TABLE meetings ALTER COLUMN extractor_version DROP DEFAULT;
ALTER TABLE meetings ALTER COLUMN extractor_version TYPE text USING extractor_version::text;
ALTER TABLE meetings ALTER COLUMN extractor_version SET DEFAULT '0';

-- People named on an item's line but not read as its owner: an unowned item that names someone
-- is "owner unclear (names: …)", never "unassigned" beside a name.
ALTER TABLE items ADD COLUMN mentioned text[] NOT NULL DEFAULT '{}';
