"""One settings object, read from the environment by the entry point and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("minutebook", appauthor=False))


class Settings(BaseSettings):
    """Every option minutebook reads; `MINUTEBOOK_<NAME>` unless an alias says otherwise."""

    model_config = SettingsConfigDict(env_prefix="MINUTEBOOK_", extra="ignore", populate_by_name=True)

    # -- database
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "MINUTEBOOK_DATABASE_URL"),
        description="PostgreSQL (with pgvector) to use; unset starts the embedded server under home.",
    )
    home: Path = Field(
        default_factory=default_home,
        description="Where the embedded database and local state live.",
    )
    models_dir: Path | None = Field(
        default=None,
        description="Where exported ONNX models are cached (keyed by the model's hash); unset: home/models.",
    )
    app_database_url: str | None = Field(
        default=None,
        description="How the app logs in as minutebook_app (row-level security applies); unset derives it.",
    )
    auto_migrate: bool = Field(default=True, description="Apply pending migrations when a command starts.")
    pool_min_size: int = Field(default=1, ge=0, description="Connections kept open by the pool.")
    pool_max_size: int = Field(default=8, ge=1, description="Upper bound on pooled connections.")

    # -- tenancy
    tenant: str = Field(default="default", pattern=TENANT_PATTERN, description="Tenant used when a command names none.")

    # -- embedding
    embed_model: str | None = Field(
        default=None,
        description="Local sentence-transformers directory; unset uses the bundled all-MiniLM-L6-v2.",
    )
    embed_runtime: Literal["onnx-int8", "onnx-fp32", "torch"] = Field(
        default="onnx-int8",
        description="How the model runs: ONNX Runtime with int8 or fp32 weights (exported once under "
        "MINUTEBOOK_HOME), or sentence-transformers on torch. Changing it needs `minutebook reembed`.",
    )
    # measured on 2 cores: 16 beats 64 by ~25% because mixed-length texts pad less in small batches
    embed_batch_size: int = Field(default=16, ge=1, le=1024, description="Texts per model forward pass.")
    embed_threads: int | None = Field(
        default=None, ge=1, le=64, description="Threads the embedding model uses (default: up to 4 cores)."
    )

    # -- ingest
    ingest_lease_seconds: float = Field(
        default=300.0, gt=0, description="How long an ingest worker holds a note before another may take it over."
    )
    max_note_bytes: int = Field(default=5_000_000, ge=1, description="Notes larger than this are refused (bytes).")
    chunk_max_tokens: int = Field(
        default=230,
        ge=40,
        le=2000,
        description="Upper bound for a chunk's tokens, prefix included (the bundled model reads 256).",
    )

    # -- LLM
    openai_api_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "MINUTEBOOK_OPENAI_API_KEY"),
        description="Key for the OpenAI-compatible endpoint; with neither key nor base URL, answers are extractive.",
    )
    openai_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_BASE_URL", "MINUTEBOOK_OPENAI_BASE_URL"),
        description="Any OpenAI-compatible server (OpenAI, Ollama, vLLM, llama.cpp).",
    )
    llm_model: str = Field(default="gpt-4o-mini", description="Chat model that answers questions.")
    llm_timeout: float = Field(default=30.0, gt=0, description="Seconds before one LLM request is abandoned.")
    llm_max_retries: int = Field(default=3, ge=0, le=10, description="Retries on 429, 5xx and timeouts.")
    prices_file: Path | None = Field(default=None, description="JSON price table overriding the shipped one.")

    # -- semantic cache
    cache_threshold: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Cosine similarity from which two questions may share an answer "
        "(default: the one bench/cache.py chose).",
    )
    cache_verify: bool = Field(
        default=True,
        description="Ask the LLM (one short yes/no call) whether a grey-zone cached answer serves a "
        "question; off: the grey zone is a miss.",
    )
    cache_verify_model: str | None = Field(
        default=None, description="A cheaper chat model for those yes/no calls (default: the answering model)."
    )
    cache_ttl_days: float = Field(default=7.0, gt=0, description="Days a cached answer may be served.")
    cache_max_entries: int = Field(default=10_000, ge=1, description="Cached answers kept per tenant (LRU).")

    # -- API
    rate_per_second: float = Field(default=20.0, gt=0, description="Requests per second allowed per tenant.")
    rate_burst: int = Field(default=40, ge=1, description="Requests a tenant may make at once before the rate applies.")
    monthly_budget_usd: float | None = Field(
        default=None, ge=0, description="LLM spend per tenant per month; when spent, answers are cached or extractive."
    )
    max_request_bytes: int = Field(default=10_000_000, ge=1_000, description="Largest request body the API accepts.")
    metrics_token: str | None = Field(
        default=None,
        description="Bearer token that /metrics asks for once API keys exist (metrics span every tenant).",
    )
    tenant_max_concurrent: int | None = Field(
        default=None,
        ge=1,
        description="Requests one tenant may have in flight at once; unset: three quarters of the pool.",
    )
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Host names (comma-separated, e.g. a reverse proxy's) the server answers to besides its own "
        "address and localhost. A loopback server refuses every other Host header (DNS rebinding); set, any "
        "server does.",
    )

    # -- web pages
    web_secret: str | None = Field(
        default=None,
        min_length=32,
        description="Signs web session cookies and CSRF tokens; unset: a random secret kept in home/web-secret "
        "(every worker of one home shares it).",
    )
    web_session_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, description="Hours a web sign-in lasts before the key is asked again."
    )

    # -- SQL query mode
    sql_timeout_ms: int = Field(default=2000, ge=10, le=600_000, description="Time one SQL-mode request may take.")
    sql_max_rows: int = Field(default=1000, ge=1, le=1_000_000, description="Rows an SQL-mode result may hold.")
    sql_max_bytes: int = Field(
        default=5_000_000, ge=1_000, description="Bytes an SQL-mode result may hold; past it, `truncated: true`."
    )
    sql_max_concurrent: int | None = Field(
        default=None, ge=1, description="SQL-mode statements one tenant may run at once; unset: a quarter of the pool."
    )

    @property
    def llm_configured(self) -> bool:
        return bool(self.openai_api_key or self.openai_base_url)

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(h.strip().lower() for h in value.split(",") if h.strip())
        return value

    @field_validator("home", mode="before")
    @classmethod
    def _expand_home(cls, value: object) -> object:
        return Path(value).expanduser() if isinstance(value, str) else value


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; explicit overrides (e.g. CLI flags) win."""
    values: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}  # pydantic checks each
    return Settings(**values)
