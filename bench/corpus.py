"""Synthetic meeting notes made by varying the two sample notes (names, numbers, dates, order)."""

from __future__ import annotations

import random
import re
from datetime import date, timedelta
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "examples" / "notes"
NAMES = [
    ("Sarah Chen", "Sarah"),
    ("Mike Rodriguez", "Mike"),
    ("Alice Park", "Alice"),
    ("David Kim", "David"),
    ("Priya Nair", "Priya"),
    ("Tom Becker", "Tom"),
    ("Lena Vogel", "Lena"),
    ("Omar Haddad", "Omar"),
    ("Grace Liu", "Grace"),
    ("Ivan Petrov", "Ivan"),
    ("Nora Quinn", "Nora"),
    ("Ravi Shah", "Ravi"),
]
TOPICS = ["Okta", "Stripe", "Kafka", "Snowflake", "Redis", "Terraform", "GraphQL", "Kubernetes", "Datadog"]


def _shift_month_days(text: str, days: int, base: date) -> str:
    months = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"

    def repl(m: re.Match[str]) -> str:
        month = months.split("|").index(m[1][:3]) + 1
        try:
            d = date(base.year, month, int(m[2])) + timedelta(days=days)
        except ValueError:
            return m[0]
        return f"{d.strftime('%b')} {d.day}"

    return re.sub(rf"\b({months})[a-z]*\.? (\d{{1,2}})\b", repl, text)


def make_corpus(target: Path, count: int, seed: int = 7) -> list[Path]:
    rng = random.Random(seed)
    templates = [p.read_text() for p in sorted(SAMPLES.glob("*")) if p.suffix in (".md", ".txt")]
    suffixes = [p.suffix for p in sorted(SAMPLES.glob("*")) if p.suffix in (".md", ".txt")]
    target.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for i in range(count):
        k = i % len(templates)
        text = templates[k]
        people = rng.sample(NAMES, 4)
        for (full, first), (new_full, new_first) in zip(NAMES[:4], people, strict=True):
            text = text.replace(full, new_full).replace(first, new_first)
        text = text.replace("Okta", rng.choice(TOPICS))
        text = re.sub(
            r"\b(\d{2,3})(%| story points| open bugs| minutes)",
            lambda m: f"{rng.randint(10, 99)}{m[2]}",
            text,
        )
        shift = 7 * (i // len(templates))
        text = _shift_month_days(text, shift, date(2025, 1, 1))
        day = date(2023, 1, 2) + timedelta(days=shift)
        path = target / f"{day.isoformat()}-meeting-{i:05d}{suffixes[k]}"
        path.write_text(text)
        paths.append(path)
    return paths
