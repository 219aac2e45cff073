"""Semantic cache in front of the LLM, and the cost ledger."""
