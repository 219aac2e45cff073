"""Several API nodes on one database: a tenant's rate limit is one limit, not one per process."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from serve_nodes import serve_nodes
from test_cli import clean_env

from minutebook.api.keys import create_key

RATE, BURST = 2.0, 4  # requests per second per tenant, and at once
HAMMER_SECONDS = 4.0


@pytest.fixture
def two_nodes(pg_url: str, tmp_path: Path) -> Iterator[list[str]]:
    """Two `minutebook serve` processes on one database."""
    env = clean_env(
        DATABASE_URL=pg_url, MINUTEBOOK_HOME=str(tmp_path / "home"), MINUTEBOOK_RATE_PER_SECOND=str(RATE),
        MINUTEBOOK_RATE_BURST=str(BURST),
    )  # fmt: skip
    with serve_nodes(env) as nodes:
        yield [node.url for node in nodes]


def test_two_api_processes_hold_a_tenant_to_one_rate_limit(pg_url: str, two_nodes: list[str]) -> None:
    with psycopg.connect(pg_url) as conn:
        _, key = create_key(conn, f"shared{uuid.uuid4().hex[:8]}", "two nodes")
    headers = {"Authorization": f"Bearer {key}"}
    allowed = limited = 0
    with httpx.Client(timeout=60) as client:
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < HAMMER_SECONDS:
            status = client.get(f"{two_nodes[n % 2]}/v1/meetings", headers=headers).status_code
            n += 1
            allowed += status == 200
            limited += status == 429
        elapsed = time.monotonic() - started
    one_limit = BURST + RATE * elapsed  # what one bucket lets through in that time
    assert limited > 0, "the requests never reached the limit"
    assert allowed <= one_limit * 1.1 + 1, f"{allowed} let through by two nodes; one limit is {one_limit:.1f}"
    assert allowed >= BURST
