"""The words each stored meeting uses (sql/024): `note_words`, as typed, which the relevance
judge checks a question's unknown word against (a typo of a note's word, or a word no note uses),
and `note_terms`, the full-text lexemes with how many of the meeting's passages hold each, from
which search reads how rare a question's word is."""

from __future__ import annotations

import psycopg


def record_note_words(conn: psycopg.Connection, *, tenant: str, meeting_id: int) -> None:
    """Replace the meeting's vocabulary with that of its stored passages (`minutebook_words` is
    the one definition of a word, shared with the migration that filled the tables; a lexeme is
    what the passages' full-text vector holds)."""
    for table in ("note_words", "note_terms"):
        conn.execute(f"DELETE FROM {table} WHERE tenant_id = %s AND meeting_id = %s", (tenant, meeting_id))
    conn.execute(
        """INSERT INTO note_words (tenant_id, meeting_id, word)
           SELECT DISTINCT c.tenant_id, c.meeting_id, w.word
           FROM chunks c, minutebook_words(c.text) AS w(word)
           WHERE c.tenant_id = %s AND c.meeting_id = %s""",
        (tenant, meeting_id),
    )
    conn.execute(
        """INSERT INTO note_terms (tenant_id, meeting_id, lexeme, passages)
           SELECT c.tenant_id, c.meeting_id, u.lexeme, count(*)
           FROM chunks c, unnest(c.tsv) AS u
           WHERE c.tenant_id = %s AND c.meeting_id = %s
           GROUP BY c.tenant_id, c.meeting_id, u.lexeme""",
        (tenant, meeting_id),
    )
