"""One meeting, five files: markdown, .docx, .html (plain and Google Docs' export) and .pdf.

Each file is generated from the markdown source (tests/fixtures/formats/make_fixtures.py writes
them as Word, Google Docs, a wiki and a PDF printer do), ingested into a tenant of its own, and
what was stored is compared with the markdown's: items (kind, text, status), owners, due dates and
attendees. Then the speed: milliseconds per note to read (convert) and to ingest (read, parse,
embed, store), the median of --repeat runs, each into a fresh tenant.

    python bench/formats.py [--repeat N]

Target: every format stores exactly what the markdown stores (items, owners, dues, attendees).
Prints the tables; exits 1 when a format differs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "formats"))

import make_fixtures  # noqa: E402

from minutebook.core.database import make_pool, tenant_transaction  # noqa: E402
from minutebook.core.embedded import start_embedded, stop_embedded  # noqa: E402
from minutebook.core.embedder import Embedder  # noqa: E402
from minutebook.core.migrations import migrate  # noqa: E402
from minutebook.core.settings import Settings  # noqa: E402
from minutebook.ingest.pipeline import IngestOptions, ingest_paths  # noqa: E402
from minutebook.ingest.reader import read_note  # noqa: E402
from minutebook.search.owners import list_items  # noqa: E402

MEETING = """\
# Quarterly Infrastructure Review - June 12, 2025

**Attendees:** Sarah Chen, Mike Rodriguez, Priya Patel, Tom Becker
**Facilitator:** Priya Patel

## Summary
The team reviewed capacity, costs and the on-call load for the quarter. Database growth is ahead
of plan and the storage budget needs a decision before July.

## Decisions
- **Decision:** Move the analytics cluster to reserved instances from July 1
- **Decision:** Freeze schema changes during the migration window
- Agreed to retire the legacy metrics pipeline after the cut-over

## Risks
1. Storage growth:
   - Primary database grows 9% a month, twice the plan
   - Owner: Mike Rodriguez, Due: June 30
2. On-call fatigue:
   - Pages per week doubled since April
   - Owner: Tom Becker, Due: July 15
   - Mitigation: tune the noisy alerts first

## Action Items
| Owner | Task | Due |
|---|---|---|
| Sarah Chen | Finish the Okta SSO rollout for the admin console | 2025-06-20 |
| Priya Patel | Draft the database migration runbook | 2025-06-25 |
| Tom Becker | Publish the on-call rotation for Q3 | 2025-06-27 |

- [ ] Mike Rodriguez to renew the TLS certificates by June 18
- [ ] Sarah Chen to share the load test results by June 16
- [x] Priya Patel sent the cost report

## Next Steps
- Review the reserved instance quote with finance
  - Compare one-year and three-year terms
- Schedule the migration dry run
"""

Writer = Callable[[str], bytes]
FORMATS: list[tuple[str, str, Writer]] = [
    ("markdown", "review.md", lambda md: md.encode()),
    ("docx", "review.docx", make_fixtures.to_docx),
    ("html", "review.html", make_fixtures.to_html),
    ("html (Google Docs)", "review-gdocs.html", lambda md: make_fixtures.to_html(md, flavour="gdocs")),
    ("pdf", "review.pdf", lambda md: make_fixtures.to_pdf(md, page_before="Action Items")),
]


def stored(pool, tenant: str) -> dict[str, set]:
    """What the tenant's one meeting holds, in comparable form."""
    with tenant_transaction(pool, tenant) as conn:
        views = list_items(conn, tenant=tenant)
        attendees = conn.execute(
            """SELECT p.name FROM meeting_attendees a JOIN people p ON p.id = a.person_id
               WHERE a.tenant_id = %s""",
            (tenant,),
        ).fetchall()
    return {
        "items": {(v.kind, v.text, v.status) for v in views},
        "owners": {(v.text, v.owner_names) for v in views if v.owners},
        "dues": {(v.text, str(v.due_date)) for v in views if v.due_date},
        "attendees": {r[0] for r in attendees},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="ingests per format for the timing (median)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print what each format stored")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="minutebook-bench-formats-"))
    notes = work / "notes"
    notes.mkdir()
    paths = {}
    for label, name, write in FORMATS:
        paths[label] = notes / name
        paths[label].write_bytes(write(MEETING))

    url = start_embedded(work / "pgdata")
    try:
        migrate(url)
        pool = make_pool(url, min_size=1, max_size=4)
        embedder = Embedder(runtime=str(Settings.model_fields["embed_runtime"].default), models_dir=work / "models")
        embedder.encode(["warm up the model"])  # loading is not ingest speed
        results: dict[str, dict[str, set]] = {}
        read_ms: dict[str, float] = {}
        ingest_ms: dict[str, float] = {}
        for label, _, _ in FORMATS:
            reads, ingests = [], []
            for run in range(max(1, args.repeat)):
                started = time.perf_counter()
                read_note(paths[label], max_bytes=5_000_000)
                reads.append((time.perf_counter() - started) * 1000)
                tenant = f"fmt{len(results)}r{run}"
                started = time.perf_counter()
                report = ingest_paths(pool, embedder, [str(paths[label])], options=IngestOptions(tenant=tenant))
                ingests.append((time.perf_counter() - started) * 1000)
                if report.failed:
                    print(f"{label}: FAILED {report.failed[0].error}")
                    return 1
                if run == 0:
                    results[label] = stored(pool, tenant)
            read_ms[label], ingest_ms[label] = statistics.median(reads), statistics.median(ingests)
        pool.close()
    finally:
        stop_embedded(work / "pgdata")

    base = results["markdown"]
    keys = ("items", "owners", "dues", "attendees")
    print(f"{'format':<20}" + "".join(f"{k:<12}" for k in keys) + f"{'read ms':>9}{'ingest ms':>11}  verdict")
    ok = True
    problems: list[str] = []
    for label, _, _ in FORMATS:
        got = results[label]
        cells = []
        same = True
        for key in keys:
            missing, extra = base[key] - got[key], got[key] - base[key]
            cells.append(f"{len(got[key])}" + ("" if not (missing or extra) else f" (-{len(missing)}+{len(extra)})"))
            if missing or extra:
                same = False
                problems += [f"{label} {key}: missing {m}" for m in sorted(map(str, missing))]
                problems += [f"{label} {key}: extra   {e}" for e in sorted(map(str, extra))]
        ok &= same
        verdict = "baseline" if label == "markdown" else ("same" if same else "DIFFERS")
        print(
            f"{label:<20}"
            + "".join(f"{c:<12}" for c in cells)
            + f"{read_ms[label]:>9.1f}{ingest_ms[label]:>11.1f}  {verdict}"
        )
    print("cells: count stored (-missing +extra against markdown); ms: median per note of", max(1, args.repeat), "runs")
    for line in problems:
        print("  " + line)
    if args.verbose:
        for key in keys:
            print(f"\nmarkdown {key}:")
            for value in sorted(map(str, base[key])):
                print("  " + value)
    print("PASS: every format stores what the markdown stores" if ok else "FAIL: a format differs from markdown")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
