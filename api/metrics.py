"""Prometheus metrics of one app instance (its own registry: two apps in a process do not mix)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from minutebook.search.answer import Answer

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "minutebook_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "minutebook_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.answers = Counter("minutebook_answers", "Answers by mode", ["mode"], registry=self.registry)
        self.cache_hits = Counter("minutebook_cache_hits", "Semantic cache hits", ["tier"], registry=self.registry)
        self.llm_tokens = Counter("minutebook_llm_tokens", "LLM tokens", ["kind"], registry=self.registry)
        self.llm_cost = Counter("minutebook_llm_cost_usd", "LLM spend in dollars", registry=self.registry)
        self.saved = Counter("minutebook_cache_saved_usd", "Dollars saved by the cache", registry=self.registry)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_answer(self, answer: Answer) -> None:
        self.answers.labels(answer.mode).inc()
        if answer.cache.hit:
            self.cache_hits.labels(answer.cache.tier or "unknown").inc()
            self.saved.inc(float(answer.saved_usd or 0))
        self.llm_tokens.labels("prompt").inc(answer.usage.prompt_tokens)
        self.llm_tokens.labels("completion").inc(answer.usage.completion_tokens)
        self.llm_cost.inc(float(answer.cost_usd or 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
