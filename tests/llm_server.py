"""An OpenAI-compatible chat-completions server on loopback, for tests and load benchmarks.

It speaks the real protocol (plain JSON and server-sent-event streaming, with usage), answers
deterministically from the numbered evidence in the prompt, and fails on demand: queue
behaviours such as "429", "500", "hang", "truncate" or "drop" (stream a few tokens, then cut the
connection) and the next requests get them. `hold()` makes every request wait until `release()`:
a slow LLM whose slowness the test ends, rather than a number of seconds.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_WORD = re.compile(r"[a-z0-9]+")
HELD_AT_MOST = 600.0  # seconds a held request waits for release(): a failed test must not hang forever


def _answer(messages: list[dict[str, str]]) -> str:
    prompt = "\n".join(m.get("content", "") for m in messages)
    question = re.search(r"Question:\s*(.+)", prompt)
    asked = set(_WORD.findall(question.group(1).lower())) if question else set()
    evidence = re.findall(r"^\[(\d+)\]\s*(.+)$", prompt, re.M)
    if not evidence:
        return "The notes do not say."
    best = max(evidence, key=lambda e: (len(asked & set(_WORD.findall(e[1].lower()))), -int(e[0])))
    sentence = re.split(r"(?<=[.!?])\s", best[1].split(": ", 1)[-1])[0]
    return f"According to the notes, {sentence.strip()} [{best[0]}]."


def _verdict(verdict: str | Callable[[str, str], str], messages: list[dict[str, str]]) -> str:
    if isinstance(verdict, str):
        return verdict
    asked = re.findall(r"Question [AB]: <question>(.*?)</question>", messages[-1].get("content", ""), re.S)
    return verdict(asked[0], asked[1]) if len(asked) == 2 else "unsure"


def knows_the_canaries(otherwise: str = "yes") -> Callable[[str, str], str]:
    """A verifier with judgement on the built-in canary pairs (cache/trust.py) that says
    `otherwise` to every other pair."""
    from minutebook.cache.trust import BUILT_IN

    known = {(c.cached, c.new): "yes" if c.same else "no" for c in BUILT_IN}
    return lambda a, b: known.get((a, b), otherwise)


class LLMServer:
    def __init__(self, *, delay: float = 0.0, cached_tokens: int = 0) -> None:
        self.delay = delay
        self.token_delay = 0.0  # seconds between streamed pieces, so that a stream is visibly one
        self.cached_tokens = cached_tokens
        self.script: deque[str] = deque()
        self.requests: list[dict[str, Any]] = []
        self.hang_seconds = 5.0
        # What it says when asked whether two questions ask for the same thing: a word, or a function
        # of the two questions (A, B) giving one (a verifier with judgement, for the canaries)
        self.verdict: str | Callable[[str, str], str] = "yes"
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                behaviour = server._next(body)
                server._open.wait(HELD_AT_MOST)
                if behaviour == "hang":  # the client gives up first; nothing is sent
                    time.sleep(server.hang_seconds)
                    self.close_connection = True
                    return None
                if behaviour == "429":
                    return self._json(
                        429, {"error": {"message": "rate limited", "type": "rate_limit"}}, {"Retry-After": "0"}
                    )
                if behaviour == "500":
                    return self._json(500, {"error": {"message": "upstream exploded", "type": "server_error"}})
                if server.delay:
                    time.sleep(server.delay)
                messages = body.get("messages", [])
                verifying = any("Question A:" in m.get("content", "") for m in messages)
                text = _verdict(server.verdict, messages) if verifying else _answer(messages)
                finish = "length" if behaviour == "truncate" else "stop"
                if behaviour == "truncate":
                    text = text[: len(text) // 2]
                prompt_tokens = sum(len(m.get("content", "").split()) for m in body.get("messages", []))
                usage = {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": len(text.split()),
                    "total_tokens": prompt_tokens + len(text.split()),
                    "prompt_tokens_details": {"cached_tokens": min(server.cached_tokens, prompt_tokens)},
                }
                if body.get("stream"):
                    return self._stream(
                        body.get("model", "test-model"),
                        text,
                        finish,
                        usage,
                        bool((body.get("stream_options") or {}).get("include_usage")),
                        drop_after=3 if behaviour == "drop" else None,
                    )
                return self._json(
                    200,
                    {
                        "id": "chatcmpl-test",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "test-model"),
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
                        ],
                        "usage": usage,
                    },
                )

            def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _stream(
                self,
                model: str,
                text: str,
                finish: str,
                usage: dict[str, Any],
                with_usage: bool,
                drop_after: int | None = None,
            ) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                chunked = drop_after is not None  # so that the cut is visibly an incomplete body
                if chunked:
                    self.send_header("transfer-encoding", "chunked")
                self.end_headers()

                def send(chunk: dict[str, Any]) -> None:
                    data = f"data: {json.dumps(chunk)}\n\n".encode()
                    if chunked:
                        data = f"{len(data):x}\r\n".encode() + data + b"\r\n"
                    self.wfile.write(data)
                    self.wfile.flush()

                base = {
                    "id": "chatcmpl-test",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": model,
                }
                for n, piece in enumerate(re.findall(r"\S+\s*", text)):
                    if drop_after is not None and n == drop_after:  # the connection dies mid-answer
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    send({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
                    if server.token_delay:
                        time.sleep(server.token_delay)
                send({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
                if with_usage:
                    send({**base, "choices": [], "usage": usage})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _next(self, body: dict[str, Any]) -> str:
        with self._lock:
            self.requests.append(body)
            return self.script.popleft() if self.script else "ok"

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def fail_next(self, *behaviours: str) -> None:
        with self._lock:
            self.script.extend(behaviours)

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def reset(self) -> None:
        with self._lock:
            self.script.clear()
            self.requests.clear()
        self.delay = 0.0
        self.token_delay = 0.0
        self.verdict = "yes"
        self._open.set()

    def __enter__(self) -> LLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


if __name__ == "__main__":  # python tests/llm_server.py: run one by hand
    with LLMServer() as s:
        print(f"OPENAI_BASE_URL={s.base_url}", flush=True)
        threading.Event().wait()
