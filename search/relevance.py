"""One judge of "is this in the notes?", asked the same way by search, who-owns, ask and (through
ask, before any lookup) the cache, with one set of named thresholds.

Two kinds of evidence about the question's best passages:
- words: the weighted share of the question's key terms the best passage covers (search/coverage.py:
  the shared grammar's stop words and scaffolding removed, typos and acronyms matched);
- meaning: the best passage's cosine similarity, less what this tenant's notes give questions about
  nothing they could hold (`UNRELATED_QUESTIONS`). A fixed cosine means different things in
  different notes (a corpus of long transcripts is near everything), so the bar is set per tenant.

A question is in the notes when one passage holds its key terms together (at least
`TERMS_TOGETHER` of them, `WORDS_COVERED` of their weight) and none of them is a word no note uses,
or when its meaning stands clear of the unrelated questions' by `MEANING_MARGIN`. A word no
note uses is usually the subject ("GraphQL", "Kubernetes"): then only meaning can carry it, which
is what lets "a short-lived test environment" find "ephemeral staging stack". When it declines, it
says which of the user's own words no note contains.

Chosen by leave-one-corpus-out on the labelled corpora with their absent questions and the
paraphrases of bench/paraphrase_labels.json (bench/answers.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import psycopg

from minutebook.core.embedder import Embedder
from minutebook.search.coverage import KeyTerms

WORDS_COVERED = 0.4  # weighted key-term share of the best passage that makes it about the question
MEANING_MARGIN = 0.3  # best passage's cosine above the tenant's unrelated-question mean that does too
TERMS_TOGETHER = 2  # key terms one passage must hold for its words to count: one shared word is chance

# Items ("who owns X"): an item is about the topic when near in meaning, or in words with some
# meaning, or spelt like it (typos). Chosen on the owner questions of the same corpora.
ITEM_SIMILARITY = 0.45  # cosine, item text vs topic
ITEM_ALL_WORDS_SIMILARITY = 0.25  # cosine floor when every word of the topic is in the item
ITEM_SPELLING = 0.55  # trigram word similarity on its own (typos)
ITEM_WHOLE_TOPIC = 0.8  # key-term coverage at which words alone make an item about the topic
ITEM_WORDS_COVERED = 0.35  # an item is short: its share of the key terms counts from lower
ITEM_UNKNOWN_COVERED = 0.6  # coverage an item needs when a key term is a word no note uses

# Questions no meeting notes answer, in many registers: their best passages are what "unrelated"
# looks like in a tenant's notes. Everyday subjects, so that no team's notes are about them all.
UNRELATED_QUESTIONS = (
    "What is the capital city of Australia?",
    "How long should I boil an egg for a soft yolk?",
    "Which team won the football world cup in 1998?",
    "What is the recommended tire pressure for a road bike?",
    "How do I repot an orchid without damaging the roots?",
    "What year did the Berlin Wall fall?",
    "Who painted the ceiling of the Sistine Chapel?",
    "What is a good recipe for banana bread?",
    "How many moons does Jupiter have?",
    "What are the symptoms of a vitamin D deficiency?",
    "Which wine goes well with grilled salmon?",
    "How do I remove a red wine stain from a carpet?",
    "What is the tallest mountain in Africa?",
    "When does the cherry blossom season start in Kyoto?",
    "How do I train a puppy to sit?",
    "What did the ancient Romans eat for breakfast?",
    "Who wrote the novel Pride and Prejudice?",
    "How much does a ticket for the opera usually cost?",
    "What is the best time of year to plant tulip bulbs?",
    "Which hiking trails are open in the Alps in winter?",
)
_NO_NOTES = 1.0  # an empty tenant: nothing is near anything, so nothing stands clear of it


@dataclass(frozen=True)
class Verdict:
    about: bool
    reason: str | None = None  # why not: "not in the notes: no note mentions “GraphQL”"


def words_count(terms: KeyTerms, found: int) -> bool:
    """Whether a passage holding `found` of the key terms holds enough of them together for its
    words to say it is about the question ("guaranteed tail calls": "tail" alone is not)."""
    return found >= min(TERMS_TOGETHER, len(terms.weights))


def judge(terms: KeyTerms, coverage: float, similarity: float, unrelated: float, *, windowed: bool) -> Verdict:
    """Whether a question whose best passage holding its key terms together (and every one no note
    uses, typed otherwise: search/ranking.py) covers `coverage` of them, and whose best has cosine
    `similarity` is in notes whose unrelated questions reach `unrelated`. A question naming a time
    window (or asked of one meeting) is about that window ("what did we review in 2022?"): whatever
    it holds answers it."""
    if windowed or terms.empty:
        return Verdict(True)
    if coverage >= WORDS_COVERED:  # (`coverage`: of a passage holding every word no note uses, however typed)
        return Verdict(True)
    if similarity - unrelated >= MEANING_MARGIN:
        return Verdict(True)
    return Verdict(False, decline_reason(terms))


def decline_reason(terms: KeyTerms) -> str:
    """The user's own words: those no note contains, else the question's rarest ones."""
    if terms.unknown:
        missing = [terms.written.get(t, t) for t in terms.weights if t in terms.unknown]
        return "not in the notes: no note mentions " + ", ".join(f"“{w}”" for w in missing[:4])
    rarest = sorted(terms.weights, key=lambda t: -terms.weights[t])[:3]
    return "not in the notes: no passage is about " + ", ".join(f"“{terms.written.get(t, t)}”" for t in rarest)


def item_about(similarity: float, coverage: float, *, all_words: bool, spelling: float, terms: KeyTerms) -> bool:
    """Whether an item (its text, the agenda item it sits under, its meeting's title) is about a topic."""
    covered = terms.empty or coverage >= (ITEM_UNKNOWN_COVERED if terms.unknown else ITEM_WORDS_COVERED)
    near = (
        similarity >= ITEM_SIMILARITY
        or (all_words and similarity >= ITEM_ALL_WORDS_SIMILARITY)
        or spelling >= ITEM_SPELLING
    )
    return (
        (near and covered)
        # the item holds the key terms: near enough in meaning is enough ("take the lead and submit
        # a new version" for "who is taking the lead on …"), unless a key term is a word no note uses
        or (covered and not terms.unknown and similarity >= ITEM_ALL_WORDS_SIMILARITY)
        # (nearly) every word of the topic is in the item, its agenda item or its meeting's title
        or coverage >= ITEM_WHOLE_TOPIC
    )


# --- the tenant's bar: what unrelated questions reach in its notes --------------------------------

_CALIBRATION_SQL = """
SELECT m.meetings, m.latest, r.unrelated
FROM (SELECT count(*) AS meetings, max(ingested_at) AS latest FROM meetings WHERE tenant_id = %(tenant)s) m
LEFT JOIN relevance_calibration r ON r.tenant_id = %(tenant)s AND r.embedded_with = %(model)s
     AND r.meetings = m.meetings AND r.latest_ingest = m.latest
"""


def unrelated_similarity(conn: psycopg.Connection, embedder: Embedder, *, tenant: str) -> float:
    """The mean best-passage cosine of `UNRELATED_QUESTIONS` in this tenant's notes, kept in
    `relevance_calibration` until the notes (their count or latest ingest) or the model change
    (read with the notes' stamp in one round trip: every question asks it)."""
    row = conn.execute(_CALIBRATION_SQL, {"tenant": tenant, "model": embedder.identity}).fetchone()
    meetings, latest, known = row if row else (0, None, None)
    if not meetings:
        return _NO_NOTES
    if known is not None:
        return float(known)
    value = _measure(conn, embedder.encode(list(UNRELATED_QUESTIONS)), tenant=tenant)
    conn.execute(
        """INSERT INTO relevance_calibration (tenant_id, embedded_with, meetings, latest_ingest, unrelated)
           VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (tenant_id) DO UPDATE SET embedded_with = excluded.embedded_with,
               meetings = excluded.meetings, latest_ingest = excluded.latest_ingest,
               unrelated = excluded.unrelated, computed_at = excluded.computed_at""",  # Citus: no now() in DO UPDATE
        (tenant, embedder.identity, meetings, latest, value),
    )
    return value


def _measure(conn: psycopg.Connection, embeddings: np.ndarray, *, tenant: str) -> float:
    best = []
    for embedding in embeddings:
        row = conn.execute(
            """SELECT 1 - (embedding <=> %(q)s) FROM chunks WHERE tenant_id = %(tenant)s
               ORDER BY embedding <=> %(q)s LIMIT 1""",
            {"q": embedding, "tenant": tenant},
        ).fetchone()
        if row:
            best.append(float(row[0]))
    return float(np.mean(best)) if best else _NO_NOTES
