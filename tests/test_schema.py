"""The schema as the catalog sees it: tenant isolation on every tenant table, the roles' grants
exactly as needed, the exact columns, and an upgrade from an older schema that keeps its rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from minutebook.core.migrations import SQL_DIR, migrate

TENANT_TABLES = {
    "cache_entries",
    "cache_entry_chunks",
    "cache_hits",
    "cache_rejections",
    "chunk_lines",
    "chunks",
    "item_owners",
    "items",
    "llm_calls",
    "meeting_attendees",
    "meetings",
    "people",
    "questions",
    "web_sessions",
    "relevance_calibration",
    "verifier_trust",
    "ingest_queue",
    "note_words",
    "note_terms",
}
# the app may only call their functions: minutebook_tenant_for_key() (keyed by hash), minutebook_*_slot(s)()
OPERATOR_ONLY = {"api_keys", "tenant_slots"}

COLUMNS = {
    "api_keys": "id tenant_id key_hash prefix label created_at revoked_at last_used_at",
    "cache_entries": "id tenant_id model prompt_version question question_norm question_hash window_key embedding "
    "answer citations prompt_tokens completion_tokens cached_tokens cost_usd latency_ms created_at expires_at "
    "last_hit_at hit_count intent negated entities",
    "cache_rejections": "id tenant_id entry_id question answer intent chunk_ids cost_usd hit_count reason created_at",
    "cache_entry_chunks": "tenant_id entry_id chunk_id content_hash",
    "cache_hits": "id tenant_id entry_id question cached_question tier similarity tokens_saved cost_saved_usd "
    "latency_saved_ms latency_ms created_at model verified_by",
    "chunk_lines": "tenant_id meeting_id ordinal fingerprint",
    "chunks": "id tenant_id meeting_id ordinal section_path section_date text embed_text token_count line_start "
    "line_end content_hash embedding tsv speakers time_start time_end section_date_end embedded_with page",
    "item_owners": "tenant_id item_id person_id position written_as",
    "items": "id tenant_id meeting_id chunk_id ordinal kind text detail owner_text status status_text due_start "
    "due_date due_text source_line evidence embedding tsv spoken_at context line_fingerprint embedded_with embed_text "
    "mentioned page",
    "llm_calls": "id tenant_id purpose model prompt_tokens completion_tokens cached_tokens cost_usd latency_ms "
    "outcome status_code error question_hash created_at",
    "meeting_attendees": "tenant_id meeting_id person_id role",
    "note_words": "tenant_id meeting_id word",
    "note_terms": "tenant_id meeting_id lexeme passages",
    "meetings": "id tenant_id source title date_start date_end attendees content_hash raw_text encoding ingested_at "
    "extractor_version date_precision date_text date_source date_order",
    "people": "id tenant_id kind name key role aliases",
    "questions": "id tenant_id question question_norm outcome model cost_usd latency_ms created_at",
    "schema_migrations": "version name sha256 applied_at",
    "store_meta": "key value updated_at",
    "web_sessions": "tenant_id id_hash created_at expires_at",
    "relevance_calibration": "tenant_id embedded_with meetings latest_ingest unrelated computed_at",
    "ingest_queue": "tenant_id batch_id source status claimed_by claimed_until attempts outcome created_at done_at",
    "rate_buckets": "bucket tokens granted refilled_at",  # reached only through minutebook_take_token()
    "tenant_slots": "lease scope tenant_id holder until",  # reached only through minutebook_*_slot(s)()
    "verifier_trust": "tenant_id model trusted reason canaries_passed canaries_total checked_at "
    "verifications_since_check approvals rejected_approvals",
}
APP_WRITES = "DELETE,INSERT,SELECT,UPDATE"
READER_TABLES = TENANT_TABLES - {
    "cache_entry_chunks",
    "chunk_lines",
    "web_sessions",
    "relevance_calibration",
    "ingest_queue",
    "note_words",
    "note_terms",
}


@pytest.fixture(scope="module")
def catalog(pg_url: str) -> psycopg.Connection:
    return psycopg.connect(pg_url)


def test_every_tenant_table_has_forced_row_level_security(catalog: psycopg.Connection) -> None:
    rows = catalog.execute(
        """SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                  EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
           FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
           WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'"""
    ).fetchall()
    assert {r[0] for r in rows} == TENANT_TABLES | OPERATOR_ONLY, "a new tenant table: add it here and give it RLS"
    for name, enabled, forced, policy in rows:
        if name in TENANT_TABLES:
            assert (enabled, forced, policy) == (True, True, True), name


def test_roles_have_exactly_the_grants_they_need(catalog: psycopg.Connection) -> None:
    def grants(role: str) -> dict[str, str]:
        rows = catalog.execute(
            """SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type)
               FROM information_schema.role_table_grants WHERE grantee = %s AND table_schema = 'public'
               GROUP BY table_name""",
            (role,),
        ).fetchall()
        return dict(rows)

    assert grants("minutebook_app") == {
        **dict.fromkeys(TENANT_TABLES, APP_WRITES),
        "schema_migrations": "SELECT",
        "store_meta": "INSERT,SELECT,UPDATE",  # the first ingest records what made the vectors
        "web_sessions": "DELETE,INSERT,SELECT",  # made at sign-in, ended at sign-out, never changed
        "relevance_calibration": "INSERT,SELECT,UPDATE",  # measured again when the notes change, never deleted
    }
    assert grants("minutebook_reader") == dict.fromkeys(READER_TABLES, "SELECT")
    for role in ("minutebook_app", "minutebook_reader"):
        attributes = catalog.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s", (role,)
        ).fetchone()
        assert attributes == (False, False, False, False), role


def test_the_schema_has_exactly_these_columns(catalog: psycopg.Connection) -> None:
    rows = catalog.execute(
        """SELECT c.table_name, string_agg(c.column_name, ' ' ORDER BY c.ordinal_position)
           FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
           WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'  -- Citus adds views (citus_tables)
           GROUP BY c.table_name"""
    ).fetchall()
    assert dict(rows) == COLUMNS


def test_an_older_schema_upgrades_and_keeps_its_rows(blank_db_url: str, tmp_path: Path) -> None:
    older = tmp_path / "sql"
    older.mkdir()
    for path in sorted(SQL_DIR.glob("00[1-6]_*.sql")):
        shutil.copy(path, older / path.name)
    assert [m.version for m in migrate(blank_db_url, older)] == [1, 2, 3, 4, 5, 6]
    vector = "[" + ",".join(["0.05"] * 384) + "]"
    with psycopg.connect(blank_db_url) as conn:
        meeting = conn.execute(
            """INSERT INTO meetings (tenant_id, source, title, date_start, content_hash, raw_text)
               VALUES ('acme', 'sync.md', 'Sync', '2025-11-03', 'h1', '# Sync') RETURNING id"""
        ).fetchone()
        assert meeting is not None
        conn.execute(
            """INSERT INTO chunks (tenant_id, meeting_id, ordinal, section_path, text, embed_text, token_count,
                                   line_start, line_end, content_hash, embedding)
               VALUES ('acme', %s, 0, '{Notes}', 'Okta SSO slips a week', 'Sync: Okta SSO slips a week', 6,
                       2, 2, 'c1', %s::vector)""",
            (meeting[0], vector),
        )
        conn.execute(
            """INSERT INTO llm_calls (tenant_id, purpose, model, prompt_tokens, completion_tokens, cached_tokens,
                                      cost_usd, latency_ms, outcome)
               VALUES ('acme', 'answer', 'gpt-4o-mini', 100, 20, 0, 0.0001, 800, 'ok')"""
        )
    applied = [m.version for m in migrate(blank_db_url)]
    assert applied[0] == 7 and applied == sorted(applied)
    with psycopg.connect(blank_db_url) as conn:
        chunk = conn.execute("SELECT text, speakers, time_start FROM chunks").fetchone()
        assert chunk == ("Okta SSO slips a week", [], None)  # columns added later have their defaults
        assert conn.execute("SELECT count(*) FROM llm_calls").fetchone() == (1,)
        assert conn.execute("SELECT title FROM meetings").fetchone() == ("Sync",)


def test_every_key_of_a_tenant_table_leads_with_tenant_id(catalog: psycopg.Connection) -> None:
    """What Citus needs to distribute by tenant_id (issue 27), checked on plain PostgreSQL too:
    primary keys, unique constraints and foreign keys (both ends) start with tenant_id."""
    rows = catalog.execute(
        """SELECT c.conrelid::regclass::text, c.conname, c.contype,
                  (SELECT array_agg(a.attname ORDER BY k.n) FROM unnest(c.conkey) WITH ORDINALITY k(num, n)
                   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num),
                  (SELECT array_agg(a.attname ORDER BY k.n) FROM unnest(c.confkey) WITH ORDINALITY k(num, n)
                   JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num)
           FROM pg_constraint c
           WHERE c.connamespace = 'public'::regnamespace AND c.contype IN ('p', 'u', 'f')"""
    ).fetchall()
    keyed = {r[0] for r in rows}
    assert keyed & TENANT_TABLES >= TENANT_TABLES - {"chunk_lines"}, "every tenant table but chunk_lines has a key"
    wrong = [
        f"{table}.{name} ({', '.join(columns)})"
        for table, name, kind, columns, referenced in rows
        if table in TENANT_TABLES and (columns[0] != "tenant_id" or (kind == "f" and referenced[0] != "tenant_id"))
    ]
    assert not wrong, f"keys not led by tenant_id: {wrong}"
