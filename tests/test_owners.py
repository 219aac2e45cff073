"""'Who owns X' end to end: notes ingested into a real database, answered without an LLM."""

import shutil
import uuid
from datetime import date
from pathlib import Path

import pytest
from conftest import FIXTURES, Q4_NOTE, SAMPLES, TPM_NOTE
from psycopg_pool import ConnectionPool

from minutebook.core.database import tenant_transaction
from minutebook.core.embedder import Embedder
from minutebook.ingest.pipeline import IngestOptions, ingest_paths
from minutebook.search.owners import OwnerAnswer, list_items, who_owns
from minutebook.search.relevance import unrelated_similarity


def ask(pool: ConnectionPool, embedder: Embedder, tenant: str, topic: str) -> OwnerAnswer:
    with tenant_transaction(pool, tenant) as conn:
        unrelated = unrelated_similarity(conn, embedder, tenant=tenant)
        return who_owns(conn, embedder.encode_one(topic), topic, tenant=tenant, unrelated=unrelated)


def people(pool: ConnectionPool, tenant: str) -> dict[str, tuple[str, str | None, list[str]]]:
    with tenant_transaction(pool, tenant) as conn:
        rows = conn.execute("SELECT name, kind, role, aliases FROM people WHERE tenant_id = %s", (tenant,)).fetchall()
    return {r[0]: (r[1], r[2], sorted(r[3])) for r in rows}


@pytest.fixture(scope="module")
def samples_tenant(pool: ConnectionPool, embedder: Embedder) -> str:
    """Both samples in one tenant, shared by the read-only tests of this module."""
    tenant = f"owners{uuid.uuid4().hex[:8]}"
    report = ingest_paths(pool, embedder, [str(SAMPLES)], options=IngestOptions(tenant=tenant))
    assert not report.failed
    return tenant


def test_who_owns_answers_from_the_notes_with_evidence(
    pool: ConnectionPool, embedder: Embedder, samples_tenant: str
) -> None:
    answer = ask(pool, embedder, samples_tenant, "Okta SSO")
    item = answer.item
    assert item is not None
    assert [(o.name, o.written_as) for o in item.owners] == [("Sarah Chen", "Sarah")]
    assert item.due_date == date(2025, 11, 15) and item.status == "open"
    assert item.meeting_title == "Weekly TPM Status Meeting - Week of Oct 21-25, 2025"
    assert item.meeting_date == date(2025, 10, 21)
    assert item.evidence == "- [ ] Complete Okta SSO integration (Sarah, Nov 15)"
    assert TPM_NOTE.read_text().splitlines()[item.source_line - 1] == item.evidence  # 1-based

    costs = ask(pool, embedder, samples_tenant, "infrastructure costs").item
    assert costs is not None and costs.kind == "risk"
    assert [(o.name, o.role) for o in costs.owners] == [("Mike Rodriguez", "DevOps Lead")]

    rate = ask(pool, embedder, samples_tenant, "API rate limiting").item
    assert rate is not None
    assert (rate.owner_names, rate.status, rate.status_text) == ("Mike Rodriguez", "done", "Completed")


@pytest.mark.parametrize(
    ("topic", "owner"),
    [
        ("read replicas", "Mike Rodriguez"),
        ("security vulnerability remediation", "Security team + Backend team"),
        ("payment gateway tier", "Partnerships"),
        ("metrics dashboard for the execs", "TPM"),
        ("log retention", "DevOps"),
        ("white-label feasibility", "Eng + Product"),
        ("monitoring dashboard for LLM costs", "David Kim"),
        ("code freeze", "unassigned"),  # "All: Code freeze …" is everyone's, no one in particular
        ("Okra integrtion", "Sarah Chen"),  # typos
    ],
)
def test_who_owns_by_meaning_and_spelling(
    pool: ConnectionPool, embedder: Embedder, samples_tenant: str, topic: str, owner: str
) -> None:
    item = ask(pool, embedder, samples_tenant, topic).item
    assert item is not None, topic
    assert item.owner_names == owner


@pytest.mark.parametrize("topic", ["kubernetes upgrade", "hiring a pastry chef", "quarterly office party"])
def test_unrelated_topics_get_no_owner(
    pool: ConnectionPool, embedder: Embedder, samples_tenant: str, topic: str
) -> None:
    assert not ask(pool, embedder, samples_tenant, topic).found


def test_unowned_risk_is_reported_as_unassigned(pool: ConnectionPool, embedder: Embedder, samples_tenant: str) -> None:
    item = ask(pool, embedder, samples_tenant, "talent and capacity risk").item
    assert item is not None and item.text == "Talent/Capacity" and item.owners == []


def test_people_are_canonical_with_aliases_and_teams_apart(pool: ConnectionPool, samples_tenant: str) -> None:
    found = people(pool, samples_tenant)
    assert found["Sarah Chen"] == ("person", None, ["sarah"])
    assert found["Mike Rodriguez"] == ("person", "DevOps Lead", ["mike"])
    assert "Sarah" not in found and "Mike" not in found
    for team in (
        "Security team",
        "Backend team",
        "Product",
        "Eng",
        "Partnerships",
        "TPM",
        "Sales Eng",
        "DevOps",
    ):
        assert found[team][0] == "team", team
    assert "All" not in found  # "All: Code freeze": everyone is no person and no team


def test_first_name_joins_a_full_name_seen_later(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions
) -> None:
    ingest_paths(pool, embedder, [str(TPM_NOTE)], options=options)
    assert "Sarah" in people(pool, options.tenant)
    ingest_paths(pool, embedder, [str(Q4_NOTE)], options=options)
    found = people(pool, options.tenant)
    assert "Sarah" not in found and found["Sarah Chen"][2] == ["sarah"]
    with tenant_transaction(pool, options.tenant) as conn:
        okta = list_items(conn, tenant=options.tenant, owner="Sarah Chen")
    assert "Complete Okta SSO integration" in [i.text for i in okta]


def test_ambiguous_first_name_is_not_guessed(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions, tmp_path: Path
) -> None:
    (tmp_path / "2025-02-03-sync.md").write_text(
        "# Sync\nAttendees: Sarah Chen, Sarah Lee\n\n"
        "## Action items\n- [ ] Sarah: renew the support contract by Feb 20\n"
    )
    ingest_paths(pool, embedder, [str(tmp_path)], options=options)
    found = people(pool, options.tenant)
    assert {"Sarah Chen", "Sarah Lee", "Sarah"} <= set(found)
    with tenant_transaction(pool, options.tenant) as conn:
        (item,) = list_items(conn, tenant=options.tenant, kind="action")
    assert item.owner_names == "Sarah"


def test_latest_assignment_wins_and_history_is_shown(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions, tmp_path: Path
) -> None:
    for name in ("2025-11-03-platform-sync.md", "2025-11-17-platform-sync.md"):
        shutil.copy(FIXTURES / "notes" / name, tmp_path / name)
    ingest_paths(pool, embedder, [str(tmp_path)], options=options)
    answer = ask(pool, embedder, options.tenant, "Okta SSO for the admin console")
    assert answer.item is not None
    assert answer.item.owner_names == "Omar Haddad"
    assert answer.item.due_date == date(2025, 12, 5)
    assert [(h.owner_names, h.meeting_date) for h in answer.history] == [("Sarah Chen", date(2025, 11, 3))]


def test_items_filters(pool: ConnectionPool, samples_tenant: str) -> None:
    with tenant_transaction(pool, samples_tenant) as conn:
        mike = list_items(conn, tenant=samples_tenant, owner="mike")
        assert {i.text for i in mike} >= {
            "Deploy read replicas for database",
            "Complete database migration testing",
        }
        assert all(i.owner_names == "Mike Rodriguez" for i in mike)
        done = list_items(conn, tenant=samples_tenant, owner="Mike Rodriguez", status="done")
        assert [i.text for i in done] == ["API Rate Limiting (Week 2-3)"]
        early = list_items(conn, tenant=samples_tenant, due_before=date(2024, 11, 21), kind="action")
        assert [i.text for i in early] == ["Set up component library infrastructure"]
        assert list_items(conn, tenant=samples_tenant, owner="Nobody Atall") == []


def test_reingesting_a_changed_note_replaces_its_items(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions, notes_dir: Path
) -> None:
    note = notes_dir / TPM_NOTE.name
    ingest_paths(pool, embedder, [str(note)], options=options)
    note.write_text(note.read_text().replace("(Sarah, Nov 15)", "(Priya, Dec 12)"))
    ingest_paths(pool, embedder, [str(note)], options=options)
    with tenant_transaction(pool, options.tenant) as conn:
        okta = [i for i in list_items(conn, tenant=options.tenant) if "Okta SSO integration" in i.text]
    assert [(i.owner_names, i.due_date) for i in okta] == [("Priya", date(2025, 12, 12))]
