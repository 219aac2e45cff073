"""Owner extraction quality on a labelled set, and who-owns latency at 10,000 items.

Quality: every labelled item (notes in examples/, tests/fixtures/notes/, bench/notes/) is
matched to the extracted item whose text contains the label's text. A triple (item, owners,
due) is right when owners (as written) and due date (end of a range) both agree.
  owner precision = extracted items with an owner that are right / extracted items with an owner
  owner recall    = labelled owned items extracted right / labelled owned items
Targets: precision >= 0.95, recall >= 0.90; who-owns p50 <= 30 ms (embedding included).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import numpy as np

from minutebook.core.database import make_pool, tenant_transaction
from minutebook.core.embedded import start_embedded, stop_embedded
from minutebook.core.embedder import Embedder
from minutebook.core.migrations import migrate
from minutebook.ingest.extract import ExtractedItem, extract_items
from minutebook.ingest.parse import parse_note
from minutebook.search.owners import who_owns
from minutebook.search.relevance import unrelated_similarity

ROOT = Path(__file__).resolve().parent.parent
LABELS = Path(__file__).resolve().parent / "owners_labels.json"
PRECISION_TARGET, RECALL_TARGET, P50_TARGET_MS = 0.95, 0.90, 30.0


def _owners(item: ExtractedItem) -> list[str]:
    return sorted(o.name.lower() for o in item.owners)


def quality() -> tuple[float, float, list[str]]:
    labels = json.loads(LABELS.read_text())
    labels.pop("_comment", None)
    owned_extracted = owned_right = labelled_owned = labelled_found = 0
    problems: list[str] = []
    for rel, expected in labels.items():
        path = ROOT / rel
        items = extract_items(parse_note(path.read_text(), path.name))
        claimed: set[int] = set()
        for label in expected:
            matches = [i for i, it in enumerate(items) if label["text"].lower() in it.text.lower()]
            want_owners = sorted(o.lower() for o in label["owners"])
            want_due = date.fromisoformat(label["due"]) if label["due"] else None
            if label["owners"]:
                labelled_owned += 1
            if not matches:
                problems.append(f"missed   {path.name}: {label['text']}")
                continue
            idx = matches[0]
            claimed.add(idx)
            got = items[idx]
            right = _owners(got) == want_owners and got.due_date == want_due
            if label["owners"] and right:
                labelled_found += 1
            if got.owners:
                owned_extracted += 1
                owned_right += right
            if not right:
                problems.append(
                    f"wrong    {path.name}: {label['text']}: got {_owners(got)} {got.due_date}, "
                    f"want {want_owners} {want_due}"
                )
        for i, it in enumerate(items):  # owners on items nobody labelled as owned are false positives
            if i not in claimed and it.owners:
                owned_extracted += 1
                problems.append(f"extra    {path.name}: {it.text} → {_owners(it)}")
    precision = owned_right / owned_extracted if owned_extracted else 0.0
    recall = labelled_found / labelled_owned if labelled_owned else 0.0
    return precision, recall, problems


VERBS = [
    "Migrate",
    "Review",
    "Upgrade",
    "Document",
    "Deploy",
    "Audit",
    "Automate",
    "Decommission",
    "Load test",
    "Design",
    "Negotiate",
    "Monitor",
    "Refactor",
    "Benchmark",
    "Secure",
    "Schedule",
    "Roll out",
    "Fix",
]
OBJECTS = [
    "billing service",
    "Okta SSO",
    "read replicas",
    "payment gateway",
    "CI pipeline",
    "Kafka cluster",
    "search index",
    "mobile onboarding",
    "data retention policy",
    "on-call rotation",
    "feature flags",
    "GraphQL gateway",
    "Redis cache",
    "Terraform modules",
    "analytics dashboard",
    "VPN access",
    "TLS certificates",
    "cost report",
    "vendor contract",
    "load balancers",
    "audit logging",
    "SLO alerts",
]
QUALIFIERS = [
    "for EU customers",
    "in staging",
    "before the holiday freeze",
    "for the enterprise tier",
    "",
    "across all regions",
    "for Q1 launch",
    "with the platform team",
    "after the incident",
    "",
]


def latency(items: int, queries: int) -> tuple[float, float]:
    rng = random.Random(11)
    texts = [f"{rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(QUALIFIERS)}".strip() for _ in range(items)]
    work = Path(tempfile.mkdtemp(prefix="minutebook-owners-"))
    url = start_embedded(work / "pgdata")
    try:
        migrate(url)
        pool = make_pool(url, min_size=1, max_size=2)
        embedder = Embedder(query_memory=0)  # timings include embedding every query
        vectors = embedder.encode(texts, batch_size=64)
        tenant = f"bench{uuid.uuid4().hex[:6]}"
        with tenant_transaction(pool, tenant) as conn:
            meeting = conn.execute(
                """INSERT INTO meetings (tenant_id, source, title, date_start, content_hash, raw_text)
                   VALUES (%s, 'bench', 'Synthetic', '2025-01-01', 'x', 'x') RETURNING id""",
                (tenant,),
            ).fetchone()[0]
            people = [
                conn.execute(
                    "INSERT INTO people (tenant_id, kind, name, key) VALUES (%s, 'person', %s, %s) RETURNING id",
                    (tenant, f"Person {i}", f"person {i}"),
                ).fetchone()[0]
                for i in range(50)
            ]
            with conn.cursor().copy(
                "COPY items (tenant_id, meeting_id, ordinal, kind, text, source_line, evidence, embedding) "
                "FROM STDIN WITH (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["text", "int8", "int4", "text", "text", "int4", "text", "vector"])
                for i, (text, vec) in enumerate(zip(texts, vectors, strict=True)):
                    copy.write_row((tenant, meeting, i, "action", text, i, text, vec))
            conn.execute(
                """INSERT INTO item_owners (tenant_id, item_id, person_id, position, written_as)
                   SELECT %s, id, (%s::bigint[])[1 + ordinal %% 50], 0, 'x'
                   FROM items WHERE meeting_id = %s""",
                (tenant, people, meeting),
            )
        with pool.connection() as conn:
            conn.execute("ANALYZE items")
        topics = [f"{rng.choice(VERBS).lower()} the {rng.choice(OBJECTS)}" for _ in range(queries)]
        timings: list[float] = []
        for i, topic in enumerate(topics):
            started = time.perf_counter()
            query = embedder.encode_one(topic)
            with tenant_transaction(pool, tenant) as conn:
                unrelated = unrelated_similarity(conn, embedder, tenant=tenant)  # as owner_of does
                who_owns(conn, query, topic, tenant=tenant, unrelated=unrelated)
            if i >= 10:  # the first few warm caches
                timings.append((time.perf_counter() - started) * 1000)
        pool.close()
    finally:
        stop_embedded(work / "pgdata")
    return statistics.median(timings), float(np.percentile(timings, 99))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--verbose", action="store_true", help="list every miss, wrong and extra triple")
    args = parser.parse_args()

    precision, recall, problems = quality()
    p50, p99 = latency(args.items, args.queries)
    rows = [
        ("owner precision", f"{precision:.3f}", f">= {PRECISION_TARGET}", precision >= PRECISION_TARGET),
        ("owner recall", f"{recall:.3f}", f">= {RECALL_TARGET}", recall >= RECALL_TARGET),
        (f"who-owns p50 ms ({args.items} items)", f"{p50:.1f}", f"<= {P50_TARGET_MS}", p50 <= P50_TARGET_MS),
        (f"who-owns p99 ms ({args.items} items)", f"{p99:.1f}", "", True),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'metric':<{width}}  {'value':>8}  target")
    for name, value, target, ok in rows:
        print(f"{name:<{width}}  {value:>8}  {target}{'' if ok else '  MISSED'}")
    if problems and args.verbose:
        print("\n".join(problems))
    elif problems:
        print(f"({len(problems)} disagreements; --verbose lists them)")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
