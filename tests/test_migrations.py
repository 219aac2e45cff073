import shutil
import threading
from pathlib import Path

import psycopg
import pytest

from minutebook.core.errors import MigrationError
from minutebook.core.migrations import SQL_DIR, load_migrations, migrate, migration_status


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


def test_blank_database_gets_the_whole_schema_and_rerun_is_a_no_op(blank_db_url: str) -> None:
    applied = migrate(blank_db_url)
    assert [m.version for m in applied] == [m.version for m in load_migrations()]
    assert {"meetings", "chunks", "schema_migrations"} <= tables(blank_db_url)
    assert migrate(blank_db_url) == []
    with psycopg.connect(blank_db_url) as conn:
        assert {s.state for s in migration_status(conn)} == {"applied"}
        kinds = dict(conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename='chunks'").fetchall())
    assert any("hnsw" in d and "vector_cosine_ops" in d for d in kinds.values())
    assert any("gin_trgm_ops" in d for d in kinds.values())


def test_concurrent_migrations_apply_once(blank_db_url: str) -> None:
    results: list[int] = []
    errors: list[Exception] = []

    def run() -> None:
        try:
            results.append(len(migrate(blank_db_url)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == [0, 0, len(load_migrations())]


def test_editing_an_applied_migration_is_an_error(blank_db_url: str, tmp_path: Path) -> None:
    edited = tmp_path / "sql"
    shutil.copytree(SQL_DIR, edited)
    migrate(blank_db_url, edited)
    first = sorted(edited.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- sneaky edit\n")
    with pytest.raises(MigrationError, match="edited after it was applied"):
        migrate(blank_db_url, edited)
    with psycopg.connect(blank_db_url) as conn:
        assert migration_status(conn, edited)[0].state == "modified"


def test_pending_migrations_are_listed_before_they_run(blank_db_url: str, tmp_path: Path) -> None:
    with psycopg.connect(blank_db_url) as conn:
        assert {s.state for s in migration_status(conn)} == {"pending"}
    bad = tmp_path / "sql"
    bad.mkdir()
    (bad / "1_missing_padding.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"001_name\.sql"):
        load_migrations(bad)
