"""Hybrid retrieval, filters, query modes and the SQL guard against a real database."""

import uuid
from datetime import date
from pathlib import Path

import pytest
from conftest import FIXTURES, SAMPLES
from psycopg_pool import ConnectionPool

from minutebook.core.database import SEARCH_SETTINGS, configure_connection, set_tenant, tenant_transaction
from minutebook.core.embedder import Embedder
from minutebook.core.errors import QueryError
from minutebook.ingest.pipeline import IngestOptions, ingest_paths
from minutebook.search.hybrid import SearchFilters, hybrid_search
from minutebook.search.notes_search import search_notes
from minutebook.search.query import run_query
from minutebook.search.sql_mode import SqlLimits, run_sql


@pytest.fixture(scope="module")
def corpus(pool: ConnectionPool, embedder: Embedder) -> str:
    """Samples and fixture notes in one tenant, shared by the read-only tests here."""
    tenant = f"search{uuid.uuid4().hex[:8]}"
    report = ingest_paths(pool, embedder, [str(SAMPLES), str(FIXTURES / "notes")], options=IngestOptions(tenant=tenant))
    assert not report.failed
    return tenant


def search(pool: ConnectionPool, embedder: Embedder, tenant: str, text: str, k: int = 5, **filters: object) -> list:
    with tenant_transaction(pool, tenant) as conn:
        return hybrid_search(
            conn,
            embedder.encode_one(text),
            text,
            tenant=tenant,
            filters=SearchFilters(**filters),
            k=k,  # type: ignore[arg-type]
        )


def test_okta_sso_timeline_ranks_the_sso_section_first(pool: ConnectionPool, embedder: Embedder, corpus: str) -> None:
    hits = search(pool, embedder, corpus, "When will the Okta SSO integration be ready?")
    assert hits[0].section_path == ["Engineering Deep Dive (Oct 23)", "SSO Integration Status"]
    assert "«Okta»" in hits[0].highlighted
    assert set(hits[0].scores) == {"vector", "fulltext", "trigram"}
    assert hits[0].ranks["vector"] is not None and hits[0].ranks["fulltext"] is not None
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))


def test_each_signal_alone_and_together(pool: ConnectionPool, embedder: Embedder, corpus: str) -> None:
    text = "database replication lag"
    with tenant_transaction(pool, corpus) as conn:
        emb = embedder.encode_one(text)
        vector = hybrid_search(conn, emb, text, tenant=corpus, signals=("vector",), k=3)
        words = hybrid_search(conn, emb, text, tenant=corpus, signals=("fulltext",), k=3)
        both = hybrid_search(conn, emb, text, tenant=corpus, k=3)
    assert all(h.ranks["fulltext"] is None or h.ranks["vector"] for h in vector)
    assert all(h.scores["fulltext"] for h in words)  # every full-text hit matched words
    assert both[0].section_path == ["Engineering Deep Dive (Oct 23)", "Performance Testing Results"]


def test_date_filters_and_time_words(pool: ConnectionPool, embedder: Embedder, corpus: str) -> None:
    hits = search(pool, embedder, corpus, "SSO", since=date(2025, 11, 1), until=date(2025, 11, 30))
    assert hits and all(date(2025, 11, 1) <= h.section_date <= date(2025, 11, 30) for h in hits)
    result = search_notes(
        pool, embedder, "what did we decide last week about certificates", tenant=corpus, as_of=date(2025, 11, 12)
    )
    assert result.interpretation == '"last week" interpreted as 2025-11-03 .. 2025-11-09'
    assert result.hits and all(h.meeting_title == "Platform Sync — Nov 3, 2025" for h in result.hits)


def test_person_meeting_and_kind_filters(pool: ConnectionPool, embedder: Embedder, corpus: str) -> None:
    grace = search(pool, embedder, corpus, "payment gateway", person="Grace")
    assert grace and {h.meeting_title for h in grace} == {"Incident Retro: checkout latency spike"}
    sarah = search(pool, embedder, corpus, "planning", person="sarah")  # first name finds Sarah Chen
    assert {h.meeting_title for h in sarah} >= {"Q4 2024 Planning Meeting"}
    meeting_id = grace[0].meeting_id
    only = search(pool, embedder, corpus, "SSO", meeting_id=meeting_id)
    assert only and {h.meeting_id for h in only} == {meeting_id}
    risks = search(pool, embedder, corpus, "costs", kind="risk")
    with tenant_transaction(pool, corpus) as conn:
        risky = {
            r[0] for r in conn.execute("SELECT chunk_id FROM items WHERE kind = 'risk' AND tenant_id = %s", (corpus,))
        }
    assert risks and {h.chunk_id for h in risks} <= risky


def test_filtered_search_still_returns_k(pool: ConnectionPool, embedder: Embedder, corpus: str) -> None:
    # one small meeting among many chunks: the HNSW scan must keep going until k pass the filter
    with tenant_transaction(pool, corpus) as conn:
        meeting_id, count = conn.execute(
            """SELECT meeting_id, count(*) FROM chunks WHERE tenant_id = %s
               GROUP BY meeting_id ORDER BY count(*) LIMIT 1""",
            (corpus,),
        ).fetchone()
    hits = search(pool, embedder, corpus, "budget and hiring", meeting_id=meeting_id, k=count)
    assert len(hits) == count


def test_a_tenants_transaction_searches_with_the_products_hnsw_settings_where_its_rows_live(
    pool: ConnectionPool, corpus: str
) -> None:
    # read where the tenant's rows are (on Citus, a worker): a session's own settings never get there
    with pool.connection() as conn:
        conn.execute("SET hnsw.ef_search = 40; SET hnsw.iterative_scan = off")
        try:
            with conn.transaction():
                set_tenant(conn, corpus)
                seen = conn.execute(
                    """SELECT current_setting('hnsw.ef_search'), current_setting('hnsw.iterative_scan')
                       FROM meetings WHERE tenant_id = %s LIMIT 1""",
                    (corpus,),
                ).fetchone()
        finally:
            configure_connection(conn)  # the pooled connection's own settings back
    assert seen == (SEARCH_SETTINGS["hnsw.ef_search"], SEARCH_SETTINGS["hnsw.iterative_scan"])


def test_lookup_fuzzy_and_traverse(pool: ConnectionPool, embedder: Embedder, corpus: str) -> None:
    person = run_query(pool, embedder, 'LOOKUP "sarah"', tenant=corpus)["results"]
    assert [(r["type"], r["label"]) for r in person] == [("person", "Sarah Chen")]
    by_date = run_query(pool, embedder, 'LOOKUP "2025-10-23"', tenant=corpus)["results"]
    assert [r["label"] for r in by_date] == ["Weekly TPM Status Meeting - Week of Oct 21-25, 2025"]
    typo = run_query(pool, embedder, 'FUZZY "Mike Rodrigez"', tenant=corpus)["results"]
    assert typo[0]["label"] == "Mike Rodriguez"
    items = run_query(pool, embedder, 'FUZZY "Okra integrtion"', tenant=corpus)["results"]
    assert any("Okta SSO integration" in r["label"] for r in items)
    graph = run_query(pool, embedder, 'TRAVERSE "Mike Rodriguez" DEPTH 2', tenant=corpus)
    labels = [n["label"] for n in graph["nodes"]]
    assert labels[0] == "Mike Rodriguez"
    assert "Deploy read replicas for database" in labels and "Q4 2024 Planning Meeting" in labels
    assert len(labels) == len({(n["type"], n["id"]) for n in graph["nodes"]})  # each node once
    near = run_query(pool, embedder, 'TRAVERSE "Mike Rodriguez" DEPTH 1', tenant=corpus)
    near_labels = [n["label"] for n in near["nodes"]]
    assert "Alice Park" in labels and "Alice Park" not in near_labels  # via the meeting both attended
    assert all(e["from"] == near["edges"][0]["from"] for e in near["edges"])  # one hop: all from Mike
    found = run_query(pool, embedder, 'SEARCH "who handles read replicas" IN items LIMIT 3', tenant=corpus)
    assert found["results"][0]["text"] == "Deploy read replicas for database"


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO meetings (tenant_id, source, title, content_hash, raw_text) VALUES ('x','x','x','x','x')",
        "UPDATE meetings SET title = 'pwned'",
        "DELETE FROM chunks",
        "DROP TABLE meetings",
        "CREATE TABLE evil (id int)",
        "SELECT 1; DELETE FROM meetings",
        "set role postgres",
        "WITH gone AS (DELETE FROM meetings RETURNING id) SELECT count(*) FROM gone",
        "SELECT set_config('minutebook.tenant', 'someone-else', true)",
        "SELECT set_config('role', 'postgres', false)",
        "SELECT * FROM schema_migrations",
        "SELECT * FROM meetings FOR UPDATE",
    ],
)
def test_sql_mode_refuses_anything_but_reading(pool: ConnectionPool, corpus: str, statement: str) -> None:
    before = run_sql(pool, "SELECT count(*), max(title) FROM meetings", tenant=corpus).rows
    with pytest.raises(QueryError):
        run_sql(pool, statement, tenant=corpus)
    assert run_sql(pool, "SELECT count(*), max(title) FROM meetings", tenant=corpus).rows == before


def test_sql_mode_sees_only_its_tenant(pool: ConnectionPool, embedder: Embedder, corpus: str, tmp_path: Path) -> None:
    other = f"other{uuid.uuid4().hex[:8]}"
    (tmp_path / "2025-01-05-secret.md").write_text(
        "# Secret board meeting\n\n## Notes\n- Acquisition target: Initech\n"
    )
    ingest_paths(pool, embedder, [str(tmp_path)], options=IngestOptions(tenant=other))
    mine = run_sql(pool, "SELECT DISTINCT tenant_id FROM meetings", tenant=corpus)
    assert mine.rows == [[corpus]]
    leak = run_sql(
        pool,
        f"SELECT title FROM meetings WHERE tenant_id = '{other}' UNION ALL "
        "SELECT text FROM chunks WHERE text ILIKE '%Initech%'",
        tenant=corpus,
    )
    assert leak.rows == []
    assert run_sql(pool, "SELECT title FROM meetings", tenant=other).rows == [["Secret board meeting"]]


def test_sql_mode_cuts_off_long_queries_and_caps_rows(pool: ConnectionPool, corpus: str) -> None:
    with pytest.raises(QueryError, match="ran past the 200 ms limit"):
        run_sql(pool, "SELECT pg_sleep(5)", tenant=corpus, limits=SqlLimits(timeout_ms=200))
    capped = run_sql(pool, "SELECT generate_series(1, 50)", tenant=corpus, limits=SqlLimits(max_rows=10))
    assert len(capped.rows) == 10 and capped.truncated
