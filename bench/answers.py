"""Answers on real minutes nobody here wrote: owners, facts, decisions, attendees and questions the
notes do not cover, on a hand-labelled set (bench/answers_labels.json) over the Rust language team's
minutes (../shared/corpora/rust-lang-team) and the samples (examples/notes).

  who-owns correct@1   owner questions whose first named owner is the labelled person
  search hit@1 / @5    fact and decision questions whose first (any of the first 5) passage is
                       from a labelled source
  attendees parsed     listed people (as written) found among the meeting's stored attendees
  absent declined      absent questions that search, who-owns and ask all answer "not in the notes"
  false declines       answerable questions (owner, fact, decision) that were declined
Targets: who-owns correct@1 >= 0.85, attendees >= 0.95, absent declined >= 0.8, false declines
<= 0.05, search hit@1 on facts >= 0.6.

Runs on a fresh embedded server by default; `--database-url URL --tenant T` reuses a database
(unchanged notes are not re-ingested).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from psycopg_pool import ConnectionPool

from minutebook.cache.prices import PriceTable
from minutebook.core.database import open_app_pool, tenant_transaction
from minutebook.core.embedded import start_embedded, stop_embedded
from minutebook.core.embedder import Embedder
from minutebook.core.migrations import migrate
from minutebook.ingest.pipeline import IngestOptions, ingest_paths
from minutebook.search.answer import AskOptions, ask
from minutebook.search.notes_search import search_notes
from minutebook.search.owners import owner_of

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpora" / "rust-lang-team"
SAMPLES = ROOT / "examples" / "notes"
LABELS = Path(__file__).resolve().parent / "answers_labels.json"
TARGETS = {"owner": 0.85, "attendees": 0.95, "absent": 0.8, "false_declines": 0.05, "fact_hit1": 0.6}
AS_OF = date(2026, 1, 1)


@dataclass
class Tally:
    right: int = 0
    total: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, ok: bool, what: str) -> None:
        self.total += 1
        self.right += ok
        if not ok:
            self.misses.append(what)

    @property
    def share(self) -> float:
        return self.right / self.total if self.total else 1.0

    def show(self) -> str:
        return f"{self.share:.3f} ({self.right}/{self.total})"


def _source_of(path: str) -> str:
    """`…/rust-lang-team/triage/2021-01-05.md` → `triage/2021-01-05.md`; samples keep `examples/notes/…`."""
    p = Path(path)
    if "rust-lang-team" in p.parts:
        return "/".join(p.parts[p.parts.index("rust-lang-team") + 1 :])
    return "/".join(p.parts[-3:])


def _names(owners: list, extra: list[str] | None = None) -> set[str]:  # type: ignore[type-arg]
    names: set[str] = set(n.lower() for n in extra or [])
    for o in owners:
        names |= {o.name.lower(), o.written_as.lower().split(" (")[0], *(a.lower() for a in o.aliases)}
    return names


def run(pool: ConnectionPool, embedder: Embedder, tenant: str, labels: dict, verbose: bool) -> dict[str, Tally]:  # type: ignore[type-arg]
    t: dict[str, Tally] = {k: Tally() for k in ("owner", "fact1", "fact5", "decision1", "decision5", "attendees")}
    t["absent"], t["false_declines"] = Tally(), Tally()
    for lab in labels["owner"]:
        answer = owner_of(pool, embedder, lab["q"], tenant=tenant)
        declined = answer.item is None
        named = _names(answer.item.owners) if answer.item else set()
        ok = bool(named & {o.lower() for o in lab["owners"]})
        got = answer.item and (answer.item.owner_names, answer.item.text[:70], _source_of(answer.item.source))
        t["owner"].add(ok, f"{lab['q']!r}: got {got}")
        t["false_declines"].add(not declined, f"owner {lab['q']!r}")
    for kind in ("fact", "decision"):
        for lab in labels[kind]:
            result = search_notes(pool, embedder, lab["q"], tenant=tenant, as_of=AS_OF, k=5)
            sources = [_source_of(h.source) for h in result.hits]
            first = sources[0] if sources else None
            t[f"{kind}1"].add(first in lab["sources"], f"{lab['q']!r}: got {sources[:3]}")
            t[f"{kind}5"].add(any(s in lab["sources"] for s in sources), f"{lab['q']!r}")
            t["false_declines"].add(bool(result.hits), f"{kind} {lab['q']!r}")
    prices = PriceTable.load()
    for question in labels["absent"]:
        result = search_notes(pool, embedder, question, tenant=tenant, as_of=AS_OF, k=5)
        owner = owner_of(pool, embedder, question, tenant=tenant)
        answer = ask(pool, embedder, None, prices, question, options=AskOptions(tenant=tenant, as_of=AS_OF))
        said = {"search": not result.hits, "who-owns": owner.item is None, "ask": answer.mode == "not_in_notes"}
        t["absent"].add(all(said.values()), f"{question!r}: answered by {[k for k, v in said.items() if not v]}")
    with tenant_transaction(pool, tenant) as conn:
        for source, listed in labels["attendance"].items():
            rows = conn.execute(
                """SELECT p.name, p.aliases FROM meeting_attendees a JOIN people p ON p.id = a.person_id
                   JOIN meetings m ON m.id = a.meeting_id WHERE m.source LIKE %s""",
                (f"%/{source}",),
            ).fetchall()
            known = {n.lower() for name, aliases in rows for n in [name, *aliases]}
            for person in listed:
                t["attendees"].add(person.lower() in known, f"{source}: {person} (stored {sorted(known)})")
    if verbose:
        for name, tally in t.items():
            for miss in tally.misses:
                print(f"miss [{name}] {miss}")
    return t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="Reuse this database instead of a fresh embedded server.")
    parser.add_argument("--tenant", help="Tenant to ingest into and ask (default: a new one).")
    parser.add_argument("--verbose", "-v", action="store_true", help="Print every miss.")
    args = parser.parse_args()
    labels = json.loads(LABELS.read_text())
    work = None
    url = args.database_url
    if url is None:
        work = Path(tempfile.mkdtemp(prefix="minutebook-answers-"))
        url = start_embedded(work / "pgdata")
    try:
        migrate(url)
        pool = open_app_pool(url, min_size=1, max_size=4)
        embedder = Embedder()
        tenant = args.tenant or f"bench{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        report = ingest_paths(
            pool, embedder, [str(CORPUS / "triage"), str(CORPUS / "design"), str(SAMPLES)],
            options=IngestOptions(tenant=tenant, today=AS_OF),
        )  # fmt: skip
        ingest_s = time.perf_counter() - started
        t = run(pool, embedder, tenant, labels, args.verbose)
        pool.close()
    finally:
        if work is not None:
            stop_embedded(work / "pgdata")
    rows = [
        ("notes ingested", f"{report.count('new') + report.count('updated')} new/updated, "
         f"{report.count('unchanged')} unchanged, {report.count('failed')} failed in {ingest_s:.0f} s", ""),
        ("who-owns correct@1", t["owner"].show(), f">= {TARGETS['owner']}"),
        ("search hit@1 facts", t["fact1"].show(), f">= {TARGETS['fact_hit1']}"),
        ("search hit@5 facts", t["fact5"].show(), ""),
        ("search hit@1 decisions", t["decision1"].show(), ""),
        ("search hit@5 decisions", t["decision5"].show(), ""),
        ("attendees parsed", t["attendees"].show(), f">= {TARGETS['attendees']}"),
        ("absent declined (search, who-owns, ask)", t["absent"].show(), f">= {TARGETS['absent']}"),
        ("false declines", f"{1 - t['false_declines'].share:.3f} "
         f"({t['false_declines'].total - t['false_declines'].right}/{t['false_declines'].total})",
         f"<= {TARGETS['false_declines']}"),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':<34}  target")
    for measure, value, target in rows:
        print(f"{measure:<{width}}  {value:<34}  {target}")
    missed = [
        t["owner"].share < TARGETS["owner"],
        t["attendees"].share < TARGETS["attendees"],
        t["absent"].share < TARGETS["absent"],
        1 - t["false_declines"].share > TARGETS["false_declines"],
        t["fact1"].share < TARGETS["fact_hit1"],
        bool(report.failed and report.count("failed") > 2),  # two corpus notes are title-only
    ]
    if any(missed):
        print("target missed", file=sys.stderr)
    return 1 if any(missed) else 0


if __name__ == "__main__":
    sys.exit(main())
