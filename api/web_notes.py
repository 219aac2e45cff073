"""Web pages about the notes themselves: search, owners and the items board, meetings, upload."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from minutebook.api import web_pages
from minutebook.api.deps import state
from minutebook.api.problems import ApiProblem
from minutebook.api.routes_notes import ingest_received, notes_from_form
from minutebook.api.web import (
    CSRF_FIELD,
    EntityId,
    PageError,
    Visitor,
    check_csrf,
    checked_form,
    choice,
    form_date,
    form_int,
    render,
    visitor,
)
from minutebook.core.database import tenant_transaction
from minutebook.core.dates import parse_given_date
from minutebook.core.errors import MinutebookError
from minutebook.ingest.extract import ITEM_KINDS, ITEM_STATUSES

router = APIRouter(include_in_schema=False)


# -- search


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    q: str = "",
    since: str = "",
    until: str = "",
    person: str = "",
    meeting: str = "",
    kind: str = "",
    who: Visitor = Depends(visitor),
) -> HTMLResponse:
    from minutebook.search.meetings import meeting_choices
    from minutebook.search.notes_search import search_notes

    rt = state(request).rt
    form = {"q": q[:1000], "since": since, "until": until, "person": person[:200], "meeting": meeting, "kind": kind}
    result, error, code = None, None, 200
    with tenant_transaction(rt.pool, who.tenant) as conn:
        meetings = meeting_choices(conn, tenant=who.tenant)
    if q.strip():
        try:
            result = search_notes(
                rt.pool, rt.embedder, q[:1000], tenant=who.tenant, as_of=date.today(),
                since=form_date(since, "from"), until=form_date(until, "to"), person=person.strip()[:200] or None,
                meeting_id=form_int(meeting, "meeting"), kind=choice(kind, ITEM_KINDS, "kind"), k=10,
            )  # fmt: skip
        except (PageError, MinutebookError) as exc:
            error, code = str(exc), failed_status(exc)
    return render(
        request, "search.html", who, status=code, page="search", form=form, result=result,
        meetings=meetings, kinds=ITEM_KINDS, error=error,
    )  # fmt: skip


def failed_status(exc: Exception) -> int:
    """A form the page cannot use is 422; the service being unable (a re-embed under way, the
    database down) keeps its own retryable status, as the API says it."""
    status = getattr(exc, "status_code", 422)
    return status if isinstance(status, int) and status >= 500 else 422


# -- owners and items


@router.get("/owners", response_class=HTMLResponse)
def owners_page(
    request: Request,
    topic: str = "",
    owner: str = "",
    status: str = "",
    kind: str = "",
    due_before: str = "",
    unowned: str = "",
    group: str = "owner",
    who: Visitor = Depends(visitor),
) -> HTMLResponse:
    from minutebook.search.owners import list_items, owner_of

    rt = state(request).rt
    form = {
        "topic": topic[:500], "owner": owner[:200], "status": status, "kind": kind, "due_before": due_before,
        "unowned": bool(unowned),
    }  # fmt: skip
    group = group if group in ("owner", "status", "due") else "owner"
    answer, items, error, code = None, [], None, 200
    try:
        if topic.strip():
            answer = owner_of(rt.pool, rt.embedder, topic[:500], tenant=who.tenant)
        with tenant_transaction(rt.pool, who.tenant) as conn:
            items = list_items(
                conn, tenant=who.tenant, owner=owner.strip() or None, status=choice(status, ITEM_STATUSES, "status"),
                kind=choice(kind, ITEM_KINDS, "kind"), due_before=form_date(due_before, "due before"),
                unowned=bool(unowned), limit=500,
            )  # fmt: skip
    except (PageError, MinutebookError) as exc:
        error, code = str(exc), failed_status(exc)
    return render(
        request, "owners.html", who, status=code, page="owners", form=form, group=group,
        answer=answer, board=_board(items, group), count=len(items), kinds=ITEM_KINDS, statuses=ITEM_STATUSES,
        error=error,
    )  # fmt: skip


def _board(items: list[Any], group: str) -> list[tuple[str, list[Any]]]:
    """Columns of the items board: by owner, by status, or by when they are due."""
    today = date.today()
    columns: dict[str, list[Any]] = defaultdict(list)
    for item in items:
        if group == "status":
            keys = [item.status.replace("_", " ")]
        elif group == "due":
            if item.due_date is None:
                keys = ["no due date"]
            elif item.overdue(today):
                keys = ["overdue"]
            else:
                keys = [item.due_date.strftime("%Y-%m")]
        else:
            keys = [o.name for o in item.owners] or [item.owner_status]  # "owner unclear" or "unassigned"
        for key in keys:
            columns[key].append(item)
    last = ("owner unclear", "unassigned", "no due date")
    order = sorted(columns, key=lambda k: (k in last, k != "overdue", k.lower()))
    return [(k, columns[k]) for k in order]


# -- meetings


@router.get("/meetings", response_class=HTMLResponse)
def meetings_page(
    request: Request,
    since: str = "",
    until: str = "",
    undated: str = "",
    page_no: int = 1,
    who: Visitor = Depends(visitor),
) -> HTMLResponse:
    from minutebook.search.meetings import list_meetings

    per_page = 50
    page_no = max(1, min(page_no, 100_000))
    found, error = [], None
    try:
        window = (form_date(since, "from"), form_date(until, "to"))
        with tenant_transaction(state(request).rt.pool, who.tenant) as conn:
            found = list_meetings(
                conn, tenant=who.tenant, since=window[0], until=window[1], undated=bool(undated), limit=per_page + 1,
                offset=(page_no - 1) * per_page,
            )  # fmt: skip
    except PageError as exc:
        error = str(exc)
    return render(
        request, "meetings.html", who, status=422 if error else 200, page="meetings", meetings=found[:per_page],
        more=len(found) > per_page, page_no=page_no, error=error,
        form={"since": since, "until": until, "undated": bool(undated)},
    )  # fmt: skip


@router.get("/meetings/{meeting_id}", response_class=HTMLResponse)
def meeting_page(
    request: Request, meeting_id: EntityId, lines: str = "", dated: str = "", who: Visitor = Depends(visitor)
) -> HTMLResponse:
    return _meeting(request, who, meeting_id, lines=lines, dated=bool(dated))


def _meeting(
    request: Request, who: Visitor, meeting_id: int, *, lines: str = "", dated: bool = False, **form: Any
) -> HTMLResponse:
    from minutebook.search.meetings import get_meeting

    with tenant_transaction(state(request).rt.pool, who.tenant) as conn:
        found = get_meeting(conn, meeting_id, tenant=who.tenant, with_text=True)
    if found is None:
        raise ApiProblem(404, f"no meeting {meeting_id} in your notes")
    return render(
        request, "meeting.html", who, status=422 if form.get("error") else 200, page="meetings", m=found,
        span=web_pages.line_span(lines), blocks=web_pages.note_blocks(found.lines or [], found.passages),
        dated=dated, **form,
    )  # fmt: skip


@router.post("/meetings/{meeting_id}/date", response_model=None)
async def date_meeting_form(request: Request, meeting_id: EntityId, who: Visitor = Depends(visitor)) -> Response:
    """As `PATCH /v1/meetings/{id}`: the meeting and its passages take the date; cached answers that
    depended on the old one are dropped."""
    from minutebook.search.meetings import date_meeting

    form = await checked_form(request, who)
    text = str(form.get("date") or "").strip()[:40]
    try:
        given = parse_given_date(text)
    except ValueError as exc:
        return await run_in_threadpool(_meeting, request, who, meeting_id, error=str(exc), date_text=text)

    def save() -> Any:
        with tenant_transaction(state(request).rt.pool, who.tenant) as conn:
            return date_meeting(conn, who.tenant, meeting_id, given)

    if await run_in_threadpool(save) is None:
        raise ApiProblem(404, f"no meeting {meeting_id} in your notes")
    return RedirectResponse(f"/meetings/{meeting_id}?dated=1", status_code=303)


# -- upload


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, who: Visitor = Depends(visitor)) -> HTMLResponse:
    return render(request, "upload.html", who, page="upload", result=None, form={"date": ""})


@router.post("/upload", response_class=HTMLResponse)
async def upload(request: Request, who: Visitor = Depends(visitor)) -> HTMLResponse:
    s = state(request)
    form, notes = await notes_from_form(request, s.rt.settings.max_note_bytes, other_fields=5)
    check_csrf(request, who, form.get(CSRF_FIELD))
    when = str(form.get("date") or "").strip()[:40]
    error = None if notes else "Choose one or more notes to upload."
    given = None
    if when:
        try:
            given = parse_given_date(when)
        except ValueError as exc:
            error = str(exc)
    result = None
    if error is None:
        result = jsonable_encoder(await run_in_threadpool(ingest_received, s, who.tenant, notes, given))
    return render(
        request, "upload.html", who, status=422 if error else 200, page="upload", result=result,
        form={"date": when}, error=error,
    )  # fmt: skip
