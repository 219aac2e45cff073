"""Notes in: read, parse, chunk, embed, store."""
