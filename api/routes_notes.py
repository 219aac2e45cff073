"""/v1/ingest and /v1/meetings."""

from __future__ import annotations

from datetime import date
from pathlib import PurePath
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import FormData, UploadFile

from minutebook.api.deps import AppState, state, tenant_slot
from minutebook.api.problems import ApiProblem
from minutebook.core.database import tenant_transaction
from minutebook.core.dates import DateMention, parse_given_date
from minutebook.core.errors import IngestError
from minutebook.ingest.formats import BINARY_EXTENSIONS
from minutebook.ingest.pipeline import FileOutcome, IngestOptions, ingest_notes
from minutebook.ingest.reader import NoteText, note_from_bytes
from minutebook.search.meetings import date_meeting, get_meeting, list_meetings

router = APIRouter(tags=["notes"])

MAX_FILES = 200


class NoteIn(BaseModel):
    name: str = Field(
        ...,
        min_length=1,
        max_length=300,
        description="The note's identity; its extension picks the format (.docx and .pdf only as multipart files).",
    )
    text: str = Field(..., description="The note's text.")


class IngestJSON(BaseModel):
    notes: list[NoteIn] = Field(..., min_length=1, max_length=MAX_FILES)

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "notes": [
                        {
                            "name": "2025-11-03-platform-sync.md",
                            "text": "# Platform sync - Nov 3, 2025\nAttendees: Sarah, Mike\n\n## Action Items\n"
                            "- [ ] Okta SSO rollout (Sarah, Nov 15)\n",
                        }
                    ]
                }
            ]
        }
    }


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with nested models written in place: a `$ref` inside a hand-made
    request body would point at nothing in the OpenAPI document."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


_INGEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                    "required": ["files"],
                }
            },
            "application/json": {"schema": _inline_schema(IngestJSON)},
        },
    }
}


@router.post(
    "/ingest",
    summary="Ingest notes (multipart files, or JSON text)",
    openapi_extra=_INGEST_BODY,
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "files": [
                            {"source": "2025-11-03-platform-sync.md", "status": "new", "chunks": 2, "meeting_id": 7}
                        ],
                        "counts": {"new": 1, "updated": 0, "unchanged": 0, "failed": 0},
                    }
                }
            }
        }
    },
)
async def ingest(
    request: Request,
    when: str | None = Query(
        None,
        alias="date",
        max_length=40,
        description="The meeting date of these notes when they do not say it (2022-11-07, October 2022, …).",
    ),
    tenant_id: str = Depends(tenant_slot),
) -> dict[str, Any]:
    """Each note is new, updated (replacing its earlier version), unchanged, or failed with a reason;
    one note failing never stops the others."""
    try:
        given = parse_given_date(when) if when else None
    except ValueError as exc:
        raise ApiProblem(422, str(exc)) from None
    s = state(request)
    settings = s.rt.settings
    notes: list[NoteText | FileOutcome] = []
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        _, notes = await notes_from_form(request, settings.max_note_bytes)
        if not notes:
            raise ApiProblem(422, "send one or more notes as multipart field 'files'")
    elif content_type == "application/json":
        try:
            body = IngestJSON.model_validate_json(await request.body())
        except ValidationError as exc:
            raise ApiProblem(422, f"invalid JSON body: {_validation_detail(exc)}") from None
        for n in body.notes:
            if (suffix := PurePath(n.name.strip()).suffix.lower()) in BINARY_EXTENSIONS:
                why = f"{n.name}: a {suffix} file is not text; send it as a multipart file (field 'files')"
                notes.append(FileOutcome(n.name, "failed", error=why))
                continue
            notes.append(read_note(n.text.encode("utf-8", "surrogatepass"), n.name, settings.max_note_bytes))
    else:
        raise ApiProblem(415, "send multipart/form-data (field 'files') or application/json")
    return jsonable_encoder(await run_in_threadpool(ingest_received, s, tenant_id, notes, given))


def ingest_received(
    s: AppState, tenant_id: str, notes: list[NoteText | FileOutcome], given: DateMention | None
) -> dict[str, Any]:
    """Ingest what a request brought (notes read, or failures already known): per-file outcomes
    and counts, as /v1/ingest and the upload page show them."""
    settings = s.rt.settings
    options = IngestOptions(
        tenant=tenant_id,
        max_note_bytes=settings.max_note_bytes,
        max_tokens=settings.chunk_max_tokens,
        today=date.today(),
        given_date=given,
    )
    outcomes = ingest_notes(s.rt.pool, s.rt.embedder, notes, options=options)
    counts = {k: sum(1 for o in outcomes if o.status == k) for k in ("new", "updated", "unchanged", "failed")}
    return {"files": outcomes, "counts": counts}


def _validation_detail(exc: ValidationError) -> str:
    """Each problem with where it is: "notes.0.text: Field required"."""
    problems = [
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors(include_url=False)[:5]
    ]
    more = exc.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


async def notes_from_form(
    request: Request, max_bytes: int, *, other_fields: int = 0
) -> tuple[FormData, list[NoteText | FileOutcome]]:
    """A multipart body and the notes of its `files` field, read (the API's ingest and the upload
    page). A part with neither a name nor a byte is an empty file input, not a note."""
    try:
        form = await request.form(max_files=MAX_FILES, max_fields=MAX_FILES + other_fields)
    except Exception as exc:  # malformed multipart bodies raise parser-specific errors
        raise ApiProblem(400, f"cannot read the multipart body: {exc}") from None
    uploads = [v for v in form.getlist("files") if isinstance(v, UploadFile) and (v.filename or v.size)]
    return form, [read_note(await u.read(), u.filename or "", max_bytes) for u in uploads]


def read_note(data: bytes, name: str, max_bytes: int) -> NoteText | FileOutcome:
    name = name.strip()
    if not name:
        return FileOutcome("(unnamed)", "failed", error="every note needs a file name (its identity)")
    try:
        return note_from_bytes(data, name, max_bytes=max_bytes)
    except IngestError as exc:
        return FileOutcome(name, "failed", error=str(exc))


@router.get("/meetings", summary="Meetings, newest first")
def meetings(
    request: Request,
    since: date | None = Query(None, description="Meetings on or after this day.", examples=["2025-10-01"]),
    until: date | None = Query(None, description="Meetings on or before this day.", examples=["2025-10-31"]),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
    undated: bool = Query(False, description="Only meetings that got no date (fix them with PATCH)."),
    tenant_id: str = Depends(tenant_slot),
) -> dict[str, Any]:
    with tenant_transaction(state(request).rt.pool, tenant_id) as conn:
        found = list_meetings(
            conn, tenant=tenant_id, since=since, until=until, undated=undated, limit=limit, offset=offset
        )
    return {"meetings": jsonable_encoder(found)}


class MeetingPatch(BaseModel):
    model_config = {"extra": "forbid"}
    date: str = Field(
        ...,
        min_length=4,
        max_length=40,
        description="The meeting's date: a day (2022-11-07), a range (2013-01-30..2013-02-01), "
        "a month (2022-10 or October 2022) or a quarter (Q3 2024).",
        examples=["2022-11-07", "October 2022"],
    )


@router.patch("/meetings/{meeting_id}", summary="Give a meeting its date")
def patch_meeting(
    request: Request,
    body: MeetingPatch,
    meeting_id: int = Path(..., ge=1, le=2**62),
    tenant_id: str = Depends(tenant_slot),
) -> dict[str, Any]:
    """Sets the meeting's date (and its sections' dates) in one transaction and drops cached
    answers whose time window or citations depended on the old one."""
    try:
        given = parse_given_date(body.date)
    except ValueError as exc:
        raise ApiProblem(422, str(exc)) from None
    with tenant_transaction(state(request).rt.pool, tenant_id) as conn:
        found = date_meeting(conn, tenant_id, meeting_id, given)
    if found is None:
        raise ApiProblem(404, f"no meeting {meeting_id} in this tenant")
    return jsonable_encoder(found)


@router.get("/meetings/{meeting_id}", summary="One meeting with its attendees and items")
def meeting(
    request: Request,
    meeting_id: int = Path(..., ge=1, le=2**62),
    text: bool = Query(False, description="Also the note's lines as written (citations' line numbers point here)."),
    tenant_id: str = Depends(tenant_slot),
) -> dict[str, Any]:
    with tenant_transaction(state(request).rt.pool, tenant_id) as conn:
        found = get_meeting(conn, meeting_id, tenant=tenant_id, with_text=text)
    if found is None:
        raise ApiProblem(404, f"no meeting {meeting_id} in this tenant")
    return jsonable_encoder(found)
