-- An item keeps what it sits under (its agenda item or section: "Inline assembly › Action item"),
-- so asking about the topic finds an item that only says "Josh to get started on the report".
ALTER TABLE items ADD COLUMN context text NOT NULL DEFAULT '';
ALTER TABLE items ALTER COLUMN tsv SET EXPRESSION AS (
    setweight(to_tsvector('english', text), 'A')
    || setweight(to_tsvector('english', context), 'B')
    || setweight(to_tsvector('english', detail), 'C'));
