"""The few named errors: the CLI turns them into one line and an exit code, the API into
problem+json with the error's `status_code` (the one place that says whose fault each is)."""

from __future__ import annotations


class MinutebookError(Exception):
    """Base for every error a user should see as a clear message rather than a traceback."""

    status_code = 400


class ConfigError(MinutebookError):
    """Settings or environment that cannot work (bad model path, wrong embedding size, vectors of
    another model in the store, a re-embed under way...). Not the request's fault and no bug
    either: the service cannot serve it as configured, so the API says 503 with the reason."""

    status_code = 503


class DatabaseError(MinutebookError):
    """The database cannot be reached, started or migrated."""

    status_code = 503


class MigrationError(DatabaseError):
    """Migrations are inconsistent with the database (edited file, unknown applied version)."""


class IngestError(MinutebookError):
    """A note cannot be ingested; the message names the file and the reason."""

    status_code = 422


class QueryError(MinutebookError):
    """A search or query request is malformed or not allowed."""

    status_code = 400


class LLMError(MinutebookError):
    """The LLM failed after retries (timeout, rate limit, server error)."""

    status_code = 502
