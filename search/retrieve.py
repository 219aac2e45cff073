"""Nearest chunks by meaning (pgvector HNSW, cosine)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True)
class ChunkHit:
    chunk_id: int
    meeting_id: int
    meeting_title: str
    meeting_date: date | None
    section_path: list[str]
    section_date: date | None
    text: str
    similarity: float


def nearest_chunks(conn: psycopg.Connection, embedding: np.ndarray, *, tenant: str, k: int = 5) -> list[ChunkHit]:
    with conn.cursor(row_factory=class_row(ChunkHit)) as cur:
        return cur.execute(
            """SELECT c.id AS chunk_id, c.meeting_id, m.title AS meeting_title,
                      m.date_start AS meeting_date, c.section_path, c.section_date, c.text,
                      1 - (c.embedding <=> %(q)s) AS similarity
               FROM (SELECT * FROM chunks WHERE tenant_id = %(tenant)s
                     ORDER BY embedding <=> %(q)s LIMIT %(k)s) c
               JOIN meetings m ON m.id = c.meeting_id
               ORDER BY c.embedding <=> %(q)s""",
            {"q": embedding, "tenant": tenant, "k": k},
        ).fetchall()
