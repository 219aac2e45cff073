"""LOOKUP, FUZZY and TRAVERSE: entities by key, by spelling, and by their links."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import psycopg
from psycopg.rows import dict_row

from minutebook.core.database import set_local


@dataclass(frozen=True)
class Entity:
    type: str  # person | team | meeting | item
    id: int
    label: str
    detail: dict[str, Any] = field(default_factory=dict)
    score: float | None = None


def lookup(conn: psycopg.Connection, key: str, *, tenant: str) -> list[Entity]:
    """Exact matches by key: a person (name or alias), a meeting (title or ISO date), an item (item:ID)."""
    found: list[Entity] = []
    norm = " ".join(key.lower().split())
    with conn.cursor(row_factory=dict_row) as cur:
        for r in cur.execute(
            """SELECT id, kind, name, role, aliases FROM people
               WHERE tenant_id = %(t)s AND (key = %(k)s OR %(k)s = ANY(aliases))""",
            {"t": tenant, "k": norm},
        ):
            found.append(Entity(r["kind"], r["id"], r["name"], {"role": r["role"], "aliases": r["aliases"]}))
        meeting_date = _iso_date(key)
        for r in cur.execute(
            """SELECT id, title, date_start, date_end, source FROM meetings
               WHERE tenant_id = %(t)s AND (lower(title) = %(k)s
                     OR (%(d)s::date IS NOT NULL AND %(d)s::date BETWEEN date_start AND COALESCE(date_end, date_start)))
               ORDER BY date_start""",
            {"t": tenant, "k": norm, "d": meeting_date},
        ):
            found.append(
                Entity(
                    "meeting",
                    r["id"],
                    r["title"],
                    {"date_start": r["date_start"], "date_end": r["date_end"], "source": r["source"]},
                )
            )
        if norm.startswith("item:") and norm[5:].isdigit():
            for r in cur.execute(
                "SELECT id, kind, text, status, due_date FROM items WHERE tenant_id = %s AND id = %s",
                (tenant, int(norm[5:])),
            ):
                found.append(
                    Entity(
                        "item",
                        r["id"],
                        r["text"],
                        {"kind": r["kind"], "status": r["status"], "due_date": r["due_date"]},
                    )
                )
    return found


def _iso_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def fuzzy(conn: psycopg.Connection, text: str, *, tenant: str, threshold: float = 0.3, limit: int = 10) -> list[Entity]:
    """People, meeting titles and items whose spelling is close to `text` (typos welcome)."""
    # the trigram index answers `<%` at this threshold, so items below it are never read
    set_local(conn, "pg_trgm.word_similarity_threshold", str(threshold))
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """SELECT * FROM (
                   SELECT kind AS type, id, name AS label, greatest(similarity(name, %(q)s),
                          word_similarity(%(q)s, name)) AS score
                   FROM people WHERE tenant_id = %(t)s
                   UNION ALL
                   SELECT 'meeting', id, title, greatest(similarity(title, %(q)s), word_similarity(%(q)s, title))
                   FROM meetings WHERE tenant_id = %(t)s
                   UNION ALL
                   SELECT 'item', id, text, word_similarity(%(q)s, text)
                   FROM items WHERE tenant_id = %(t)s AND %(q)s <%% text
               ) m WHERE score >= %(th)s ORDER BY score DESC, label LIMIT %(n)s""",
            {"q": text, "t": tenant, "th": threshold, "n": limit},
        ).fetchall()
    return [Entity(r["type"], r["id"], r["label"], score=round(float(r["score"]), 3)) for r in rows]


@dataclass(frozen=True)
class Graph:
    nodes: list[Entity]
    edges: list[tuple[str, str, str]]  # (from node key, relation, to node key)


def _node_key(kind: str, id_: int) -> str:
    return f"{kind}:{id_}"


def traverse(conn: psycopg.Connection, start: str, *, tenant: str, depth: int = 2) -> Graph:
    """Breadth-first from a person or meeting: person → items they own → meetings → attendees and
    owners, and back. Every node is visited once (cycle guard); `depth` bounds the hops."""
    roots = [e for e in lookup(conn, start, tenant=tenant) if e.type in ("person", "team", "meeting")]
    if not roots:
        roots = [e for e in fuzzy(conn, start, tenant=tenant, threshold=0.5, limit=1) if e.type != "item"]
    nodes: dict[str, Entity] = {}
    edges: list[tuple[str, str, str]] = []
    queue: deque[tuple[Entity, int]] = deque()
    for r in roots:
        nodes[_node_key("person" if r.type == "team" else r.type, r.id)] = r
        queue.append((r, 0))
    with conn.cursor(row_factory=dict_row) as cur:
        while queue:
            entity, level = queue.popleft()
            if level >= depth:
                continue
            here = _node_key("person" if entity.type == "team" else entity.type, entity.id)
            for relation, neighbour in _neighbours(cur, entity, tenant):
                key = _node_key("person" if neighbour.type == "team" else neighbour.type, neighbour.id)
                edges.append((here, relation, key))
                if key not in nodes:
                    nodes[key] = neighbour
                    queue.append((neighbour, level + 1))
    unique_edges = list(dict.fromkeys(edges))
    return Graph(list(nodes.values()), unique_edges)


def _neighbours(cur: psycopg.Cursor[dict[str, Any]], entity: Entity, tenant: str) -> list[tuple[str, Entity]]:
    found: list[tuple[str, Entity]] = []
    if entity.type in ("person", "team"):
        for r in cur.execute(
            """SELECT i.id, i.kind, i.text, i.status, i.due_date FROM item_owners o
                 JOIN items i ON i.tenant_id = o.tenant_id AND i.id = o.item_id
               WHERE o.tenant_id = %s AND o.person_id = %s ORDER BY i.id""",
            (tenant, entity.id),
        ).fetchall():
            found.append(
                (
                    "owns",
                    Entity(
                        "item",
                        r["id"],
                        r["text"],
                        {"kind": r["kind"], "status": r["status"], "due_date": r["due_date"]},
                    ),
                )
            )
        for r in cur.execute(
            """SELECT m.id, m.title, m.date_start FROM meeting_attendees a
                 JOIN meetings m ON m.tenant_id = a.tenant_id AND m.id = a.meeting_id
               WHERE a.tenant_id = %s AND a.person_id = %s ORDER BY m.date_start""",
            (tenant, entity.id),
        ).fetchall():
            found.append(("attended", Entity("meeting", r["id"], r["title"], {"date_start": r["date_start"]})))
    elif entity.type == "item":
        for r in cur.execute(
            """SELECT m.id, m.title, m.date_start
               FROM items i JOIN meetings m ON m.tenant_id = i.tenant_id AND m.id = i.meeting_id
               WHERE i.tenant_id = %s AND i.id = %s""",
            (tenant, entity.id),
        ).fetchall():
            found.append(("recorded in", Entity("meeting", r["id"], r["title"], {"date_start": r["date_start"]})))
        for r in cur.execute(
            """SELECT p.id, p.kind, p.name, p.role FROM item_owners o JOIN people p ON p.tenant_id = o.tenant_id
                 AND p.id = o.person_id
               WHERE o.tenant_id = %s AND o.item_id = %s ORDER BY o.position""",
            (tenant, entity.id),
        ).fetchall():
            found.append(("owned by", Entity(r["kind"], r["id"], r["name"], {"role": r["role"]})))
    elif entity.type == "meeting":
        for r in cur.execute(
            """SELECT p.id, p.kind, p.name, p.role FROM meeting_attendees a JOIN people p ON p.tenant_id = a.tenant_id
                 AND p.id = a.person_id
               WHERE a.tenant_id = %s AND a.meeting_id = %s ORDER BY p.name""",
            (tenant, entity.id),
        ).fetchall():
            found.append(("attendee", Entity(r["kind"], r["id"], r["name"], {"role": r["role"]})))
        for r in cur.execute(
            """SELECT DISTINCT p.id, p.kind, p.name, p.role FROM items i
                 JOIN item_owners o ON o.tenant_id = i.tenant_id AND o.item_id = i.id
                 JOIN people p ON p.tenant_id = o.tenant_id AND p.id = o.person_id
               WHERE i.tenant_id = %s AND i.meeting_id = %s ORDER BY p.name""",
            (tenant, entity.id),
        ).fetchall():
            found.append(("assigned", Entity(r["kind"], r["id"], r["name"], {"role": r["role"]})))
    return found
