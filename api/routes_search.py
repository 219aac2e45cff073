"""/v1/search, /v1/query, /v1/owners and /v1/action-items: evidence and facts, no LLM."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field

from minutebook.api.deps import state, tenant_slot
from minutebook.core.database import tenant_transaction
from minutebook.ingest.extract import ItemKind, ItemStatus
from minutebook.search.notes_search import search_notes
from minutebook.search.owners import list_items, owner_of
from minutebook.search.query import run_query
from minutebook.search.query_language import parse_query

router = APIRouter()


@router.get("/search", tags=["search"], summary="Hybrid search over the notes")
def search(
    request: Request,
    q: str = Query(
        ...,
        min_length=1,
        max_length=1000,
        description="Words or a question; time words filter.",
        examples=["SSO decisions last week"],
    ),
    since: date | None = Query(None, description="Only passages about this day or later."),
    until: date | None = Query(None, description="Only passages about this day or earlier."),
    person: str | None = Query(None, max_length=200, description="Only meetings this person attended or spoke in."),
    meeting: int | None = Query(None, ge=1, le=2**62, description="Only passages of this meeting."),
    kind: ItemKind | None = Query(None, description="Only passages holding an item of this kind."),
    k: int = Query(10, ge=1, le=100),
    as_of: date | None = Query(None, description="Read 'last week' as of this day (default today)."),
    tenant_id: str = Depends(tenant_slot),
) -> dict[str, Any]:
    """Passages ranked by meaning, words and spelling together, with their meeting, section and lines."""
    rt = state(request).rt
    result = search_notes(
        rt.pool, rt.embedder, q, tenant=tenant_id, as_of=as_of or date.today(),
        since=since, until=until, person=person, meeting_id=meeting, kind=kind, k=k,
    )  # fmt: skip
    return {
        "query": result.query,
        "interpretation": result.interpretation,
        "filters": jsonable_encoder(asdict(result.filters)),
        "hits": jsonable_encoder(result.hits),
        "declined": result.declined,
    }


class QueryIn(BaseModel):
    query: str = Field(..., min_length=1, max_length=10_000, description="LOOKUP / SEARCH / FUZZY / TRAVERSE / SQL")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"query": 'LOOKUP "Sarah Chen"'},
                {"query": "SEARCH items okta rollout LIMIT 5"},
                {"query": "SQL SELECT title, date_start FROM meetings ORDER BY date_start DESC LIMIT 5"},
            ]
        }
    }


@router.post("/query", tags=["search"], summary="A REM query; SQL runs read-only inside your tenant")
def query(request: Request, body: QueryIn, tenant_id: str = Depends(tenant_slot)) -> dict[str, Any]:
    """SQL statements are limited in time, rows and bytes (`truncated`), and a tenant may run
    only a few at once (429 past that)."""
    s = state(request)
    rt = s.rt
    parsed = parse_query(body.query)
    slot = s.sql.at_once(tenant_id, "SQL statements") if parsed.mode == "SQL" else nullcontext()
    with slot:
        result = run_query(rt.pool, rt.embedder, parsed, tenant=tenant_id, sql_limits=rt.sql_limits())
    return jsonable_encoder(result)


@router.get("/owners", tags=["owners"], summary="Who owns a piece of work")
def owners(
    request: Request,
    topic: str = Query(..., min_length=1, max_length=500, examples=["Okta SSO"]),
    k: int = Query(5, ge=1, le=50),
    tenant_id: str = Depends(tenant_slot),
) -> dict[str, Any]:
    """The owner(s), due date, status and evidence line of the best matching item; earlier
    assignments of the same work as history; `found: false` when nothing matches well. An item
    with no owner has `owner_status` "owner unclear" and the `mentioned` names when its line names
    people none of whom is written as its owner, else "unassigned"."""
    rt = state(request).rt
    answer = owner_of(rt.pool, rt.embedder, topic, tenant=tenant_id, k=k)
    return {"found": answer.found, **jsonable_encoder(answer)}


@router.get("/action-items", tags=["owners"], summary="Items by owner, status, kind and due date")
def action_items(
    request: Request,
    owner: str | None = Query(None, max_length=200, examples=["Mike"]),
    status: ItemStatus | None = Query(None),
    kind: ItemKind | None = Query(None),
    due_before: date | None = Query(None, examples=["2025-11-30"]),
    unowned: bool = Query(False, description='Only items with no owner ("owner unclear" ones included).'),
    limit: int = Query(200, ge=1, le=10_000),
    tenant_id: str = Depends(tenant_slot),
) -> dict[str, Any]:
    """Items with their owners; an unowned one says `owner_status` ("owner unclear" with the
    `mentioned` names its line gives, or "unassigned")."""
    with tenant_transaction(state(request).rt.pool, tenant_id) as conn:
        found = list_items(
            conn, tenant=tenant_id, owner=owner, status=status, kind=kind, due_before=due_before,
            unowned=unowned, limit=limit,
        )  # fmt: skip
    return {"items": jsonable_encoder(found)}
