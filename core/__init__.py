"""Plumbing every layer shares: settings, database, embedder, LLM client, errors."""
