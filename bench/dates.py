"""Meeting dates and titles read from what notes say, on a labelled set (bench/date_notes/).

Each note in the set carries its date only in its title, front matter, first headings, header
lines or file name, in the forms people write: month and year, numeric ranges in either day/month
order, quarters, weekday lines, and notes that name only an event (those must stay undated). The
set is read as one tenant, so ambiguous numeric dates are decided by the order the others show.

  dated correctly = notes with a labelled date whose start, end and precision all match / those notes
  wrong dates     = notes given a date that differs from the label (an undated note given one counts)
  undated exact   = the notes left undated are exactly the ones labelled undated
  titles          = notes whose title matches the label
Targets: dated correctly >= 0.95, wrong dates = 0, undated exact, titles >= 0.95.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from minutebook.core.dates import numeric_order_votes, prevailing_order
from minutebook.ingest.parse import parse_note

HERE = Path(__file__).resolve().parent / "date_notes"
DATED_TARGET, TITLE_TARGET = 0.95, 0.95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", action="store_true", help="Print every note's reading.")
    args = parser.parse_args()
    labels = json.loads((HERE / "labels.json").read_text())
    texts = {name: (HERE / name).read_text() for name in labels}
    votes: dict[str, int] = {"dmy": 0, "mdy": 0}
    for text in texts.values():
        for order, n in numeric_order_votes(text).items():
            votes[order] += n
    order = prevailing_order(votes)

    dated = right = wrong = titles = 0
    undated_expected = {n for n, lab in labels.items() if lab["start"] is None}
    undated_got: set[str] = set()
    for name, label in sorted(labels.items()):
        note = parse_note(texts[name], name, numeric_order=order)
        got = (
            (note.date_start.isoformat(), (note.date_end or note.date_start).isoformat(), note.date_precision)
            if note.date_start
            else None
        )
        want = (label["start"], label["end"], label["precision"]) if label["start"] else None
        if note.date_start is None:
            undated_got.add(name)
        if want is not None:
            dated += 1
            right += got == want
        if got is not None and got != want:
            wrong += 1
        titles += note.title == label["title"]
        if args.verbose or got != want or note.title != label["title"]:
            mark = "ok " if got == want and note.title == label["title"] else "BAD"
            print(f"{mark} {name}: got {got} from {note.date_source}, want {want}; title {note.title!r}")

    share = right / dated if dated else 1.0
    title_share = titles / len(labels)
    exact = undated_got == undated_expected
    rows = [
        ("notes", f"{len(labels)}", ""),
        ("numeric order read from the set", str(order), ""),
        ("dated correctly", f"{share:.3f} ({right}/{dated})", f">= {DATED_TARGET}"),
        ("wrong dates", str(wrong), "= 0"),
        ("undated exactly the undated ones", f"{exact} ({len(undated_got)}/{len(undated_expected)})", "True"),
        ("titles right", f"{title_share:.3f} ({titles}/{len(labels)})", f">= {TITLE_TARGET}"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':<22}  target")
    for measure, value, target in rows:
        print(f"{measure:<{width}}  {value:<22}  {target}")
    missed = share < DATED_TARGET or wrong > 0 or not exact or title_share < TITLE_TARGET
    if missed:
        print("target missed", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
