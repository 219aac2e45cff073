"""Items and owners extracted from notes: the expectations the samples and other styles set."""

from datetime import date

import pytest
from conftest import FIXTURES, Q4_NOTE, TPM_NOTE

from minutebook.ingest.extract import ExtractedItem, extract_items
from minutebook.ingest.owners import parse_owners
from minutebook.ingest.parse import parse_note


def items_of(path) -> list[ExtractedItem]:
    return extract_items(parse_note(path.read_text(), path.name))


def find(items: list[ExtractedItem], text: str, kind: str | None = None) -> ExtractedItem:
    matches = [i for i in items if text.lower() in i.text.lower() and (kind is None or i.kind == kind)]
    assert len(matches) == 1, f"{text!r}: {[i.text for i in matches]}"
    return matches[0]


def owners(item: ExtractedItem) -> list[str]:
    return [o.name for o in item.owners]


@pytest.fixture(scope="module")
def tpm() -> list[ExtractedItem]:
    return items_of(TPM_NOTE)


@pytest.fixture(scope="module")
def q4() -> list[ExtractedItem]:
    return items_of(Q4_NOTE)


@pytest.mark.parametrize(
    ("text", "who", "due"),
    [
        ("Okta SSO integration", ["Sarah"], date(2025, 11, 15)),
        ("read replicas for database", ["Mike"], date(2025, 10, 30)),
        ("Security vulnerability remediation", ["Security", "Backend"], date(2025, 11, 3)),
        ("Legacy API migration plan + client communication", ["Product", "Eng"], date(2025, 11, 5)),
        ("payment gateway tier upgrade", ["Partnerships"], date(2025, 11, 1)),
        ("engineering metrics dashboard for exec team", ["TPM"], date(2025, 11, 10)),
        ("technical sales enablement session", ["Sales Eng"], date(2025, 11, 2)),
        ("AWS cost optimization - log retention", ["DevOps"], date(2025, 10, 31)),
        ("White-label feasibility assessment", ["Eng", "Product"], date(2025, 11, 8)),
    ],
)
def test_tpm_action_items(tpm: list[ExtractedItem], text: str, who: list[str], due: date) -> None:
    item = find(tpm, text, "action")
    assert owners(item) == who
    assert item.due_date == due
    assert item.status == "open"


def test_tpm_risks_with_nested_owner_lines(tpm: list[ExtractedItem]) -> None:
    costs = find(tpm, "Infrastructure Costs", "risk")
    assert [(o.name, o.role) for o in costs.owners] == [("Mike", "DevOps Lead")]
    assert costs.due_date == date(2025, 10, 31)
    assert "AWS bill up 25%" in costs.detail
    limits = find(tpm, "Third-party API Rate Limits", "risk")
    assert owners(limits) == ["Backend team"] and limits.due_date == date(2025, 11, 1)
    vulns = find(tpm, "Dependency Vulnerabilities", "risk")
    assert owners(vulns) == ["Security team", "Backend"] and vulns.due_date == date(2025, 11, 3)
    talent = find(tpm, "Talent/Capacity", "risk")
    assert talent.owners == [] and talent.due_date is None  # nothing written: unassigned
    # teams are teams, people are people
    assert {o.kind for o in vulns.owners} == {"team"}
    assert costs.owners[0].kind == "person"


def test_tpm_decisions_and_priorities(tpm: list[ExtractedItem]) -> None:
    assert find(tpm, "descope real-time collaboration", "decision").status == "approved"
    priorities = [i for i in tpm if i.kind == "priority"]
    assert priorities[0].text == "SSO launch preparation (Google/Microsoft providers)"
    assert len(priorities) == 5 and all(not i.owners for i in priorities)


def test_q4_priorities_with_status(q4: list[ExtractedItem]) -> None:
    expected = {
        "Database Migration": (["Mike Rodriguez"], "in_progress", "In progress"),
        "Semantic Caching": (["Sarah Chen"], "in_progress", "Design phase"),
        "API Rate Limiting": (["Mike Rodriguez"], "done", "Completed"),
        "Frontend Refactor": (["Alice Park"], "in_progress", "In progress"),
    }
    for text, (who, status, written) in expected.items():
        item = find(q4, text, "priority")
        assert (owners(item), item.status, item.status_text) == (who, status, written)


def test_q4_action_items_dates_and_ranges(q4: list[ExtractedItem]) -> None:
    cases = {
        "database migration testing": (["Mike"], date(2024, 11, 25), date(2024, 11, 25)),
        "semantic caching architecture": (["Sarah"], date(2024, 11, 22), date(2024, 11, 22)),
        "component library infrastructure": (["Alice"], date(2024, 11, 20), date(2024, 11, 20)),
        "monitoring dashboard for LLM costs": (["David"], date(2024, 11, 23), date(2024, 11, 23)),
        "customer beta testing calls": (["Sarah"], date(2024, 12, 16), date(2024, 12, 20)),
        "Code freeze": ([], date(2024, 12, 20), date(2025, 1, 5)),  # "All:" is no one in particular; into 2025
    }
    for text, (who, start, end) in cases.items():
        item = find(q4, text, "action")
        assert (owners(item), item.due_start, item.due_date) == (who, start, end), text
    assert find(q4, "Code freeze", "action").due_text == "Dec 20 - Jan 5"


def test_q4_milestones_risks_and_decisions(q4: list[ExtractedItem]) -> None:
    shipped = find(q4, "API rate limiting shipped", "milestone")
    assert (shipped.status, shipped.due_date) == ("done", date(2024, 11, 18))
    release = find(q4, "Production release", "milestone")
    assert (release.status, release.due_date) == ("open", date(2025, 1, 6))
    assert owners(find(q4, "LLM API cost overruns", "risk")) == ["Sarah Chen"]
    decisions = {i.text.split(" (")[0]: i.status for i in q4 if i.kind == "decision"}
    assert decisions == {
        "Semantic caching implementation": "approved",
        "PostgreSQL 18 migration": "approved",
        "Code freeze during holidays": "approved",
        "GraphQL API": "deferred",
        "Mobile app": "deferred",
    }
    # resource allocation lines name people but assign nothing
    assert not [i for i in q4 if "Backend:" in i.evidence]


def test_tables_action_lines_mentions_and_checkboxes() -> None:
    items = items_of(FIXTURES / "notes" / "2025-11-03-platform-sync.md")
    certs = find(items, "Rotate TLS certificates")
    assert (owners(certs), certs.due_date, certs.status) == (["Tom Becker"], date(2025, 11, 7), "in_progress")
    assert owners(find(items, "SLO alerts")) == ["Jules"]
    assert owners(find(items, "WAF rules")) == ["Security", "SRE"]
    postmortem = find(items, "schedule the postmortem")
    assert (owners(postmortem), postmortem.due_date) == (["Tom"], date(2025, 11, 5))
    lbs = find(items, "Decommission the legacy load balancers")
    assert (owners(lbs), lbs.due_date) == (["Priya"], date(2025, 12, 1))
    assert owners(find(items, "SSO rollout plan")) == ["Sarah"]
    archive = find(items, "archive the old Grafana dashboards")
    assert (owners(archive), archive.status) == (["Jules"], "done")
    runbook = find(items, "write the runbook")  # "Priya will ..." in running notes
    assert (owners(runbook), runbook.due_date) == (["Priya"], date(2025, 11, 14))
    assert find(items, "Capacity planning").owners == []
    assert find(items, "nginx", "decision").status == "approved"
    assert find(items, "own certificate manager", "decision").status == "rejected"


def test_plain_text_follow_ups_and_explicit_tbd() -> None:
    items = items_of(FIXTURES / "notes" / "2025-12-01-incident-retro.txt")
    breaker = find(items, "circuit breaker")
    assert (owners(breaker), breaker.due_date) == (["Grace"], date(2025, 12, 12))
    pool = find(items, "connection pool limit")
    assert (owners(pool), pool.due_date) == (["Ravi"], date(2025, 12, 8))
    assert owners(find(items, "on-call runbook")) == ["Omar"]
    assert find(items, "second payment provider").owners == []
    alerting = find(items, "Alerting on pool saturation")
    assert (owners(alerting), alerting.due_date) == (["Payments team"], date(2025, 12, 19))
    vendor = find(items, "Gateway vendor capacity", "risk")
    assert (owners(vendor), vendor.due_date) == (["Grace Liu"], date(2025, 12, 15))
    assert find(items, "On-call fatigue", "risk").owners == []


def test_end_of_month_resolves_to_the_next_such_month() -> None:
    items = items_of(FIXTURES / "notes" / "2025-11-17-platform-sync.md")
    webhooks = find(items, "billing webhooks")
    assert (owners(webhooks), webhooks.due_date, webhooks.due_text) == (
        ["Sarah"],
        date(2026, 1, 31),
        "end of January",
    )


@pytest.mark.parametrize(
    "text", ["Security sprint next week", "Scope discussion", "emergency fixes only", "We", "ROI: 30% cost"]
)
def test_prose_is_never_taken_for_an_owner(text: str) -> None:
    assert parse_owners(text) is None


def test_no_owner_is_invented_for_unowned_lines() -> None:
    note = parse_note(
        "# Sync\n\n## Action items\n- Look into flaky CI builds\n- Update the roadmap by Jan 10\n",
        "2025-01-02.md",
    )
    items = extract_items(note)
    assert [(i.text, i.owners) for i in items] == [
        ("Look into flaky CI builds", []),
        ("Update the roadmap", []),
    ]
    assert items[1].due_date == date(2025, 1, 10)
