"""Tests run against a real PostgreSQL 18 + pgvector: an embedded server started once per session.

Each test gets its own tenant, so tests never see each other's rows and need no cleanup; tests
that need a blank database create one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import ConnectionPool

from minutebook.api.runtime import make_embedder
from minutebook.core.database import open_app_pool
from minutebook.core.embedded import start_embedded
from minutebook.core.embedder import Embedder
from minutebook.core.migrations import migrate
from minutebook.core.settings import Settings
from minutebook.ingest.pipeline import IngestOptions

# One export of the ONNX model for every test, the CLI's subprocesses included (they inherit it)
os.environ.setdefault("MINUTEBOOK_MODELS_DIR", str(Path(tempfile.gettempdir()) / "minutebook-test-models"))

SAMPLES = Path(__file__).resolve().parent.parent / "examples" / "notes"
TPM_NOTE = SAMPLES / "2025-10-21-weekly-tpm-status.md"
Q4_NOTE = SAMPLES / "2024-11-15-q4-planning.txt"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that reaches the test server (through `pg_url`, which `pool` and `blank_db_url`
    build on) is a database test: `make test-citus` runs exactly these on a Citus cluster, so a
    new one is covered there without a list to keep."""
    for item in items:
        if "pg_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.database)


@pytest.fixture(scope="session")
def pg_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="minutebook-test-"))
    yield root
    from minutebook.core.embedded import stop_embedded

    for pgdata in root.glob("*pgdata*"):
        stop_embedded(pgdata)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_url(pg_root: Path) -> str:
    url = os.environ.get("MINUTEBOOK_TEST_DATABASE_URL") or start_embedded(pg_root / "pgdata")
    migrate(url)
    return url


@pytest.fixture(scope="session")
def pool(pg_url: str) -> Iterator[ConnectionPool]:
    # the role the product runs as: row-level security applies to every test
    pool = open_app_pool(pg_url, min_size=1, max_size=8)
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The product's default runtime, as the CLI and the API make it."""
    return make_embedder(Settings())


@pytest.fixture
def tenant() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def options(tenant: str) -> IngestOptions:
    return IngestOptions(tenant=tenant)


@pytest.fixture
def blank_db_url(pg_url: str) -> Iterator[str]:
    """A new empty database on the test server, dropped afterwards."""
    name = f"blank_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(pg_url, dbname=name)
    yield url
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def notes_dir(tmp_path: Path) -> Path:
    """A scratch copy of the sample notes that a test may change."""
    target = tmp_path / "notes"
    shutil.copytree(SAMPLES, target)
    return target
