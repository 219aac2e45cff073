"""Evidence out: retrieval, query modes, owners, answers."""
