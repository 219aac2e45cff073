"""The LLM, through the real `openai` SDK against any OpenAI-compatible endpoint.

Retries (429, 5xx, timeouts, dropped connections) are ours, not the SDK's, so that every
attempt — failed ones included — reaches the ledger with its latency and outcome. Waits honour
Retry-After, otherwise back off exponentially with jitter.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from minutebook.core.errors import LLMError

if TYPE_CHECKING:
    import openai

Message = dict[str, str]

# OpenAI's rule of thumb for English: about four characters per token. Used only when a stream
# ends without reporting its usage (cut upstream, left by its reader, or a server that never
# sends usage), so that what was received is ledgered rather than 0 tokens and $0.
CHARS_PER_TOKEN = 4


class Cancelled(LLMError):
    """The caller stopped listening (its client left): the stream was closed mid-answer."""


def estimate_usage(messages: list[Message], received: str) -> Usage:
    """The usage of a request whose server did not report it: its prompt and what was received."""
    prompt = sum(len(m.get("content", "")) for m in messages)
    return Usage(-(-prompt // CHARS_PER_TOKEN), -(-len(received) // CHARS_PER_TOKEN))


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Attempt:
    """One HTTP request to the LLM, as the ledger records it."""

    model: str
    outcome: str  # ok | rate_limited | server_error | timeout | connection_error | error | cancelled
    latency_ms: int
    usage: Usage
    status_code: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    usage: Usage
    latency_ms: int  # the successful attempt
    finish_reason: str | None
    attempts: int

    @property
    def complete(self) -> bool:
        """A whole answer: the model stopped by itself (not cut off by length or a filter)."""
        return self.finish_reason == "stop" and bool(self.text.strip())


class LLMClient:
    def __init__(
        self,
        *,
        model: str,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_wait: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model = model
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_wait = max_wait
        self._sleep = sleep
        # local servers (Ollama, llama.cpp) take any key; the SDK insists on one
        import openai  # 1 s to import: only once an LLM is actually used

        self.timeout = timeout
        self._client = openai.OpenAI(api_key=api_key or "not-needed", base_url=base_url, timeout=timeout, max_retries=0)

    @property
    def retry_budget(self) -> float:
        """The longest `complete` can take, in seconds: every attempt timing out, with the
        longest wait between each (a callee waiting on it, as single flight does, waits longer)."""
        return (self.max_retries + 1) * self.timeout + self.max_retries * self.max_wait

    def complete(
        self,
        messages: list[Message],
        *,
        on_token: Callable[[str], None] | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
        max_tokens: int = 600,
        temperature: float = 0.0,
    ) -> Completion:
        """Stream a chat completion; retry what is worth retrying; raise LLMError when it keeps failing.

        Once a token has reached `on_token` the attempt is never retried: the caller has shown
        it, and a second attempt would show the answer again from its start. `on_token` may
        raise `Cancelled` (its reader left): the stream is closed and what was received ledgered.
        An attempt that reports no usage is ledgered with `estimate_usage` of what it received."""
        import openai

        last_error = "no attempt made"
        emitted = False

        def relay(token: str) -> None:
            nonlocal emitted
            emitted = True
            if on_token:
                on_token(token)

        for attempt in range(self.max_retries + 1):
            started = time.perf_counter()
            received: list[str] = []
            try:
                usage, finish = self._stream(messages, relay, max_tokens, temperature, received)
            except Cancelled:
                if on_attempt:
                    on_attempt(
                        Attempt(self.model, "cancelled", _ms(started), estimate_usage(messages, "".join(received)))
                    )
                raise
            except openai.APIStatusError as exc:
                outcome = (
                    "rate_limited"
                    if exc.status_code == 429
                    else ("server_error" if exc.status_code >= 500 else "error")
                )
                record = Attempt(self.model, outcome, _ms(started), Usage(), exc.status_code, _reason(exc))
                retry = outcome != "error"
                wait = _retry_after(exc)
            except openai.APITimeoutError as exc:
                record = Attempt(self.model, "timeout", _ms(started), Usage(), None, _reason(exc))
                retry, wait = True, None
            except openai.APIConnectionError as exc:
                record = Attempt(self.model, "connection_error", _ms(started), Usage(), None, _reason(exc))
                retry, wait = True, None
            except openai.OpenAIError as exc:
                record = Attempt(self.model, "error", _ms(started), Usage(), None, _reason(exc))
                retry, wait = False, None
            else:
                latency = _ms(started)
                text = "".join(received)
                usage = usage if usage.total else estimate_usage(messages, text)
                if on_attempt:
                    on_attempt(Attempt(self.model, "ok", latency, usage, 200))
                return Completion(text, self.model, usage, latency, finish, attempt + 1)
            if received:  # cut mid-answer: what was received is billed
                record = replace(record, usage=estimate_usage(messages, "".join(received)))
            if on_attempt:
                on_attempt(record)
            last_error = f"{record.outcome}: {record.error}"
            if emitted:
                raise LLMError(f"the LLM stopped answering mid-stream ({last_error}); the partial answer was not kept")
            if not retry or attempt == self.max_retries:
                break
            self._sleep(self._wait(attempt, wait))
        raise LLMError(f"the LLM did not answer after {attempt + 1} attempt(s) ({last_error})")

    def _wait(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(self.max_wait, max(0.0, retry_after))
        exponential = self.backoff * (2**attempt)
        return min(self.max_wait, exponential + random.uniform(0, self.backoff))

    def _stream(
        self,
        messages: list[Message],
        on_token: Callable[[str], None] | None,
        max_tokens: int,
        temperature: float,
        parts: list[str],
    ) -> tuple[Usage, str | None]:
        """Read one streamed completion into `parts` (kept by the caller even when this raises);
        the stream is closed however the reading ends."""
        stream = self._client.chat.completions.create(
            model=self.model,
            messages=cast(Any, messages),  # our plain dicts are what the typed params describe
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=max_tokens,
            temperature=temperature,
        )
        usage = Usage()
        finish: str | None = None
        with stream:
            for chunk in stream:
                if chunk.usage is not None:
                    details = chunk.usage.prompt_tokens_details
                    usage = Usage(
                        chunk.usage.prompt_tokens or 0,
                        chunk.usage.completion_tokens or 0,
                        (details.cached_tokens or 0) if details else 0,
                    )
                for choice in chunk.choices:
                    if choice.delta and choice.delta.content:
                        parts.append(choice.delta.content)
                        if on_token:
                            on_token(choice.delta.content)
                    if choice.finish_reason:
                        finish = choice.finish_reason
        return usage, finish


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _reason(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _retry_after(exc: openai.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after") if exc.response is not None else None
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return parsed.timestamp() - time.time() if parsed else None
