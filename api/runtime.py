"""Builds the collaborators from settings (the only place that does) and hands them down."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from minutebook.core.database import connect, open_app_pool, resolve_database_url
from minutebook.core.embedded import EmbeddedSupervisor
from minutebook.core.embedder import Embedder
from minutebook.core.embedding_identity import CheckedEmbedder, StoreGuard, check_identity
from minutebook.core.migrations import migrate
from minutebook.core.settings import Settings

if TYPE_CHECKING:  # the rest is imported by the method that builds it: a CLI call pays for what it uses
    from psycopg_pool import ConnectionPool

    from minutebook.cache.prices import PriceTable
    from minutebook.cache.semantic_cache import CacheSettings
    from minutebook.cache.verify import Verifier
    from minutebook.core.llm import LLMClient
    from minutebook.search.answer import AskOptions
    from minutebook.search.sql_mode import SqlLimits


@dataclass
class Runtime:
    settings: Settings
    database_url: str
    pool: ConnectionPool
    embedder: Embedder = field(repr=False)
    supervisor: EmbeddedSupervisor | None = field(default=None, repr=False)  # serve, embedded server only

    _llm: LLMClient | None = field(default=None, init=False, repr=False)
    _prices: PriceTable | None = field(default=None, init=False, repr=False)

    def llm(self) -> LLMClient | None:
        """The configured LLM, or None: answers are then extractive. Built once: its HTTP client
        keeps connections open and is safe to share between threads."""
        s = self.settings
        if not s.llm_configured:
            return None
        if self._llm is None:
            self._llm = self._make_llm()
        return self._llm

    def verifier(self) -> Verifier | None:
        """Judges grey-zone cache hits: the answering LLM, or a cheaper model on the same endpoint."""
        from minutebook.cache.verify import llm_verifier

        s = self.settings
        llm = self.llm()
        if llm is None or not s.cache_verify:
            return None
        if s.cache_verify_model and s.cache_verify_model != s.llm_model:
            return llm_verifier(self._make_llm(s.cache_verify_model))
        return llm_verifier(llm)

    def _make_llm(self, model: str | None = None) -> LLMClient:
        from minutebook.core.llm import LLMClient

        s = self.settings
        return LLMClient(
            model=model or s.llm_model,
            api_key=s.openai_api_key,
            base_url=s.openai_base_url,
            timeout=s.llm_timeout,
            max_retries=s.llm_max_retries,
        )

    def prices(self) -> PriceTable:
        from minutebook.cache.prices import PriceTable

        if self._prices is None:
            self._prices = PriceTable.load(self.settings.prices_file)
        return self._prices

    def cache_settings(self) -> CacheSettings:
        from minutebook.cache.semantic_cache import CacheSettings

        s = self.settings
        chosen = {"threshold": s.cache_threshold} if s.cache_threshold is not None else {}
        return CacheSettings(
            **chosen, ttl=timedelta(days=s.cache_ttl_days), max_entries=s.cache_max_entries, verify=s.cache_verify
        )

    def ask_options(self, tenant: str, *, as_of: date, use_cache: bool = True) -> AskOptions:
        """How every entry point asks: the cache's settings and the tenant's monthly budget."""
        from minutebook.search.answer import AskOptions

        budget = self.settings.monthly_budget_usd
        return AskOptions(
            tenant=tenant,
            as_of=as_of,
            use_cache=use_cache,
            cache=self.cache_settings(),
            monthly_budget_usd=Decimal(str(budget)) if budget is not None else None,
        )

    def sql_limits(self) -> SqlLimits:
        from minutebook.search.sql_mode import SqlLimits

        s = self.settings
        return SqlLimits(timeout_ms=s.sql_timeout_ms, max_rows=s.sql_max_rows, max_bytes=s.sql_max_bytes)

    def close(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()
        self.pool.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_embedder(settings: Settings) -> Embedder:
    return Embedder(settings.embed_model, **_embedder_options(settings))


def make_checked_embedder(settings: Settings) -> CheckedEmbedder:
    """The embedder of a runtime, which can check the store's vectors before each use."""
    return CheckedEmbedder(settings.embed_model, **_embedder_options(settings))


def _embedder_options(settings: Settings) -> dict[str, Any]:
    return {
        "batch_size": settings.embed_batch_size,
        "runtime": settings.embed_runtime,
        "models_dir": settings.models_dir or settings.home / "models",
        "threads": settings.embed_threads,
    }


def open_runtime(settings: Settings, *, supervise: bool = False, check_embeddings: bool = True) -> Runtime:
    """Start or reach the database, bring its schema up to date, check its vectors are of the
    kind this configuration makes, and open the pool. `supervise` (long-running servers):
    restart the embedded server whenever it dies."""
    url = resolve_database_url(settings)
    if settings.auto_migrate:
        migrate(url)
    embedder = make_checked_embedder(settings)
    legacy = embedder.identity_with("torch")
    if check_embeddings:
        with connect(url) as conn:
            check_identity(conn, embedder.identity, legacy=legacy)
    pool = open_app_pool(
        url, settings.app_database_url, min_size=settings.pool_min_size, max_size=settings.pool_max_size
    )
    if check_embeddings:
        # and again at each use: a `reembed` run beside a server changes what the store holds
        embedder.guard = StoreGuard(pool, embedder.identity, legacy)
    supervisor = None
    if supervise and not settings.database_url:
        supervisor = EmbeddedSupervisor(settings.home / "pgdata").start()
    return Runtime(settings, url, pool, embedder, supervisor)
