-- The page a passage or an item is on, for notes that have pages (issue 28: PDF minutes). A
-- converted PDF keeps the line each page starts on in its front matter (ingest/formats `page_of`);
-- the ingest stores the page of each passage's first line and of each item's line, so a citation
-- can say "p. 2" beside the file, as a reader of the PDF finds it. NULL for every other note.
-- No backfill: PDFs could not be ingested before this release, so no stored note has pages
-- (`minutebook reextract --all` would fill them from the stored text all the same).
ALTER TABLE chunks ADD COLUMN page int;
ALTER TABLE items ADD COLUMN page int;
