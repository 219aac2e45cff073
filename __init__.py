"""minutebook: LLM-assisted semantic search over meeting history."""

__version__ = "0.1.0"
