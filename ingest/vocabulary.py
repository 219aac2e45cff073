"""The words each stored meeting uses (`note_words`, sql/024): what the relevance judge checks a
question's unknown word against, to tell a typo of a note's word from a word no note uses."""

from __future__ import annotations

import psycopg


def record_note_words(conn: psycopg.Connection, *, tenant: str, meeting_id: int) -> None:
    """Replace the meeting's vocabulary with the words of its stored passages (`minutebook_words`
    is the one definition of a word, shared with the migration that filled the table)."""
    conn.execute("DELETE FROM note_words WHERE tenant_id = %s AND meeting_id = %s", (tenant, meeting_id))
    conn.execute(
        """INSERT INTO note_words (tenant_id, meeting_id, word)
           SELECT DISTINCT c.tenant_id, c.meeting_id, w.word
           FROM chunks c, minutebook_words(c.text) AS w(word)
           WHERE c.tenant_id = %s AND c.meeting_id = %s""",
        (tenant, meeting_id),
    )
