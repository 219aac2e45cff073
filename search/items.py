"""Items as every surface lists them: filtered (owner, status, kind, due, meeting, no owner), and
with the people an unowned item's line names, so it reads "owner unclear (names: …)" and never
"unassigned" beside a name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import date

import numpy as np
import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from minutebook.core.database import tenant_transaction
from minutebook.core.embedder import Embedder
from minutebook.search.owners import _ITEM_COLUMNS, ItemView, OwnerAnswer, _view, who_owns
from minutebook.search.people_match import PERSON_MATCH

OWNED, OWNER_UNCLEAR, UNASSIGNED = "owned", "owner unclear", "unassigned"


@dataclass(frozen=True)
class ListedItem(ItemView):
    mentioned: list[str] = field(default_factory=list)  # named on its line, not read as its owner
    owner_status: str = UNASSIGNED  # owned | owner unclear | unassigned

    @property
    def owner_names(self) -> str:
        if self.owners:
            return " + ".join(o.name for o in self.owners)
        if self.mentioned:
            return f"{OWNER_UNCLEAR} (names: {', '.join(self.mentioned)})"
        return UNASSIGNED


def listed(view: ItemView, mentioned: Sequence[str]) -> ListedItem:
    names = [] if view.owners else list(mentioned)
    status = OWNED if view.owners else OWNER_UNCLEAR if names else UNASSIGNED
    own = {f.name: getattr(view, f.name) for f in fields(ItemView)}
    return ListedItem(**own, mentioned=names, owner_status=status)


def with_mentions(conn: psycopg.Connection, views: Sequence[ItemView]) -> list[ListedItem]:
    """These items with the names their lines mention (one query for all of them)."""
    ids = [v.id for v in views if not v.owners]
    found: dict[int, list[str]] = (
        dict(conn.execute("SELECT id, mentioned FROM items WHERE id = ANY(%s)", (ids,)).fetchall()) if ids else {}
    )
    return [listed(v, found.get(v.id, [])) for v in views]


def list_items(
    conn: psycopg.Connection,
    *,
    tenant: str,
    owner: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    due_before: date | None = None,
    meeting_id: int | None = None,
    unowned: bool = False,
    limit: int = 200,
) -> list[ListedItem]:
    """Items filtered by owner (name, alias or first name), status, kind, due date, meeting, or
    having no owner (`unowned`, "owner unclear" ones included: the gaps a user may want to fill)."""
    conditions = ["i.tenant_id = %(tenant)s"]
    if owner:
        conditions.append(
            f"""EXISTS (SELECT 1 FROM item_owners o JOIN people p ON p.id = o.person_id
                        WHERE o.item_id = i.id
                          AND ({PERSON_MATCH} OR lower(o.written_as) = lower(%(person)s)))"""
        )
    if unowned:
        conditions.append("NOT EXISTS (SELECT 1 FROM item_owners o WHERE o.item_id = i.id)")
    if status:
        conditions.append("i.status = %(status)s")
    if kind:
        conditions.append("i.kind = %(kind)s")
    if due_before:
        conditions.append("i.due_date <= %(due_before)s")
    if meeting_id:
        conditions.append("i.meeting_id = %(meeting_id)s")
    query = f"""SELECT {_ITEM_COLUMNS}, i.mentioned, 0.0 AS score, 0.0 AS similarity
                FROM items i JOIN meetings m ON m.id = i.meeting_id
                WHERE {" AND ".join(conditions)}
                ORDER BY i.due_date NULLS LAST, m.date_start DESC NULLS LAST, i.ordinal
                LIMIT %(limit)s"""
    params = {
        "tenant": tenant,
        "person": owner,
        "status": status,
        "kind": kind,
        "due_before": due_before,
        "meeting_id": meeting_id,
        "limit": limit,
    }
    with conn.cursor(row_factory=dict_row) as cur:
        return [listed(_view(r), r["mentioned"]) for r in cur.execute(query, params).fetchall()]


def owner_answer(pool: ConnectionPool, embedder: Embedder, topic: str, *, tenant: str, k: int = 5) -> OwnerAnswer:
    """ "Who owns X" as every entry point asks it (the topic embedded once, one transaction), its
    items carrying the names an unowned line mentions."""
    embedding: np.ndarray = embedder.encode_one(topic)
    with tenant_transaction(pool, tenant) as conn:
        answer = who_owns(conn, embedding, topic, tenant=tenant, k=k)
        views = [v for v in (answer.item, *answer.history, *answer.alternatives) if v is not None]
        by_id = {v.id: v for v in with_mentions(conn, views)}
    return OwnerAnswer(
        answer.topic,
        by_id[answer.item.id] if answer.item else None,
        [by_id[v.id] for v in answer.history],
        [by_id[v.id] for v in answer.alternatives],
    )
