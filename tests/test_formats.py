"""Notes written as .docx, .html and .pdf: read into the same structure as markdown, ingested with
their owners, dates and citations, and every bad file refused with one line and nothing stored.

The fixtures are generated at test time (tests/fixtures/formats/make_fixtures.py) from one
markdown source, the way Word, Google Docs, Confluence, Notion and a PDF printer write them.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from datetime import date
from pathlib import Path

import anyio
import psycopg
import pytest
from conftest import FIXTURES
from fastapi.testclient import TestClient
from mcp import Client
from mcp.types import CallToolResult, TextContent
from psycopg_pool import ConnectionPool
from typer.testing import CliRunner

from minutebook.api.app import create_app
from minutebook.api.cli import app as cli_app
from minutebook.api.keys import KeyResolver, create_key
from minutebook.api.mcp_server import build_server, resolve_caller
from minutebook.api.runtime import Runtime
from minutebook.cache.prices import PriceTable
from minutebook.core.database import tenant_transaction
from minutebook.core.embedder import Embedder
from minutebook.core.errors import IngestError
from minutebook.core.settings import Settings
from minutebook.ingest.extract import extract_items
from minutebook.ingest.formats import page_of, pdf_note
from minutebook.ingest.parse import parse_note
from minutebook.ingest.pipeline import IngestOptions, ingest_paths
from minutebook.ingest.reader import NOTE_EXTENSIONS, note_from_bytes, read_note
from minutebook.ingest.reextract import reextract
from minutebook.search.answer import AskOptions, ask
from minutebook.search.hybrid import hybrid_search
from minutebook.search.owners import list_items, who_owns
from minutebook.search.relevance import unrelated_similarity

sys.path.insert(0, str(FIXTURES / "formats"))
import make_fixtures

LIMIT = 1_000_000
CONVERTED = ("meeting.docx", "meeting.html", "meeting-gdocs.html", "meeting.pdf")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_fixtures.write_all(tmp_path_factory.mktemp("formats"))


def understood(text: str, name: str) -> tuple:
    """What the grammar reads from a note: title, date, attendees, sections and items."""
    parsed = parse_note(text, name)
    items = sorted((i.kind, i.text, tuple(o.name for o in i.owners), i.due_date) for i in extract_items(parsed))
    return parsed.title, parsed.date_start, [a.name for a in parsed.attendees], [s.path for s in parsed.sections], items


@pytest.mark.parametrize("name", CONVERTED)
def test_each_format_reads_as_the_markdown_it_was_written_from(files: dict[str, Path], name: str) -> None:
    note = read_note(files[name], max_bytes=LIMIT)
    assert note.source == str(files[name].resolve()) and note.encoding == Path(name).suffix[1:].split("-")[0]
    assert understood(note.text, name) == understood(make_fixtures.MEETING_MD, "meeting.md")


@pytest.mark.parametrize("name", CONVERTED)
def test_structure_survives_headings_nested_lists_tables_labels_checkboxes(files: dict[str, Path], name: str) -> None:
    lines = read_note(files[name], max_bytes=LIMIT).text.splitlines()
    assert "# Platform Sync - March 4, 2025" in lines and "## Risks" in lines
    assert "- **Decision:** Move the public launch to April 1" in lines
    assert "  - Review the flag again after the launch" in lines  # a second-level bullet
    assert "1. Payment gateway limits:" in lines and "   - Owner: Mike Ross, Due: March 20" in lines
    assert "| Owner | Task | Due |" in lines and "| Sarah Chen | Finish the Okta SSO rollout | 2025-03-15 |" in lines
    assert "- [ ] Mike Ross to renew the TLS certificates by March 12" in lines
    assert "- [x] Sarah Chen shared the load test results" in lines


@pytest.mark.parametrize("name", ["untitled.docx", "untitled.html", "untitled.pdf"])
def test_document_properties_stand_in_for_a_missing_title_and_date(files: dict[str, Path], name: str) -> None:
    note = read_note(files[name], max_bytes=LIMIT)
    parsed = parse_note(note.text, name)
    assert (parsed.title, parsed.date_start, parsed.date_source) == (
        "Budget Committee",
        date(2025, 3, 4),
        "front matter",
    )
    assert [a.name for a in parsed.attendees] == ["Dana Fox", "Lee Park"]


def test_the_body_wins_over_document_properties() -> None:
    data = make_fixtures.to_docx(
        make_fixtures.MEETING_MD, title="Template title", created=make_fixtures.datetime(2020, 1, 2)
    )
    parsed = parse_note(note_from_bytes(data, "m.docx", max_bytes=LIMIT).text, "m.docx")
    assert (parsed.title, parsed.date_start) == ("Platform Sync - March 4, 2025", date(2025, 3, 4))


def test_notion_export_properties_and_to_dos(files: dict[str, Path]) -> None:
    text = read_note(files["notion.html"], max_bytes=LIMIT).text
    parsed = parse_note(text, "notion.html")
    assert (parsed.title, parsed.date_start) == ("Design review", date(2025, 3, 6))
    assert [a.name for a in parsed.attendees] == ["Dana Fox", "Lee Park"]
    assert "- [ ] Dana Fox to update the mockups by March 10" in text.splitlines()
    assert "- [x] Lee Park sent the research notes" in text.splitlines()


def test_confluence_export_title_tasks_and_table(files: dict[str, Path]) -> None:
    text = read_note(files["confluence.html"], max_bytes=LIMIT).text
    assert "breadcrumb" not in text and "ENG\n" not in text and "generated by Confluence" not in text
    lines = text.splitlines()
    assert lines[:3] == ["# ENG : Sprint Review", "Created by Ann Wu, last modified on Mar 10, 2025", ""]
    assert lines[3:5] == ["Date: 2025-03-10", "Attendees: Ann Wu, Sam Lee"]  # a <br> keeps its line
    assert lines[6:9] == ["## Agenda", "- Demo", "  - Search **v2**"]  # under the page title, h1 is a section
    assert "| Ann Wu | Ship the search page | 2025-03-20 |" in lines
    assert "- [x] Sam Lee fixed the flaky test" in lines
    parsed = parse_note(text, "confluence.html")
    assert (parsed.title, parsed.date_start) == ("ENG : Sprint Review", date(2025, 3, 10))
    owned = {(i.text, tuple(o.name for o in i.owners), i.due_date) for i in extract_items(parsed)}
    assert ("Ship the search page", ("Ann Wu",), date(2025, 3, 20)) in owned


def test_html_chrome_is_dropped(files: dict[str, Path]) -> None:
    text = read_note(files["meeting.html"], max_bytes=LIMIT).text
    assert "Home" not in text and "track(" not in text and "generated by the wiki" not in text


@pytest.mark.parametrize("name", ["teams.docx", "teams-old.docx"])
def test_teams_transcript_docx_becomes_speaker_turns(files: dict[str, Path], name: str) -> None:
    parsed = parse_note(read_note(files[name], max_bytes=LIMIT).text, name)
    assert [a.name for a in parsed.attendees] == ["Sarah Chen", "Mike Ross", "Priya Patel"]
    assert parsed.date_start == date(2025, 3, 4)
    assert [(t.speaker, t.start) for t in parsed.turns][:2] == [("Sarah Chen", 5.0), ("Mike Ross", 31.0)]


def test_pdf_pages_are_kept_for_citations(files: dict[str, Path]) -> None:
    text = read_note(files["meeting.pdf"], max_bytes=LIMIT).text
    lines = text.splitlines()
    heading = lines.index("## Action Items") + 1  # 1-based, as citations count lines
    assert page_of(text, 1) == 1 and page_of(text, heading - 2) == 1
    assert page_of(text, heading) == 2 and page_of(text, len(lines)) == 2
    assert page_of(make_fixtures.MEETING_MD, 3) is None  # a note without pages


# -- ingested: owners from tables, citations


def _ask(pool: ConnectionPool, embedder: Embedder, tenant: str, topic: str):
    with tenant_transaction(pool, tenant) as conn:
        unrelated = unrelated_similarity(conn, embedder, tenant=tenant)
        return who_owns(conn, embedder.encode_one(topic), topic, tenant=tenant, unrelated=unrelated)


@pytest.mark.parametrize("name", ["meeting.docx", "meeting.html", "meeting.pdf"])
def test_owner_and_due_date_from_a_table_are_answered_with_the_file_cited(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions, files: dict[str, Path], name: str
) -> None:
    report = ingest_paths(pool, embedder, [str(files[name])], options=options)
    assert [o.status for o in report.outcomes] == ["new"]
    item = _ask(pool, embedder, options.tenant, "Okta SSO rollout").item
    assert item is not None
    assert (item.owner_names, item.due_date) == ("Sarah Chen", date(2025, 3, 15))
    assert item.source == str(files[name].resolve())
    with tenant_transaction(pool, options.tenant) as conn:
        (raw,) = conn.execute("SELECT raw_text FROM meetings WHERE tenant_id = %s", (options.tenant,)).fetchone()
        owned = list_items(conn, tenant=options.tenant, owner="Priya Patel")
    assert raw.splitlines()[item.source_line - 1] == item.evidence  # the citation's line is the table row
    assert [(i.text, i.due_date) for i in owned] == [("Draft the database migration runbook", date(2025, 3, 18))]


def test_pdf_search_hit_cites_heading_path_and_page(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions, files: dict[str, Path]
) -> None:
    ingest_paths(pool, embedder, [str(files["meeting.pdf"])], options=options)
    with tenant_transaction(pool, options.tenant) as conn:
        (raw,) = conn.execute("SELECT raw_text FROM meetings WHERE tenant_id = %s", (options.tenant,)).fetchone()
        found = {}
        for query, words in (("renew the TLS certificates", "TLS"), ("gateway throttles checkout", "throttles")):
            hits = hybrid_search(conn, embedder.encode_one(query), query, tenant=options.tenant)
            found[words] = next(h for h in hits if words in h.text)
    tls, gateway = found["TLS"], found["throttles"]
    assert tls.section_path == ["Action Items"] and tls.source.endswith("meeting.pdf")
    assert page_of(raw, tls.line_start) == 2 and tls.page == 2
    assert gateway.section_path == ["Risks", "Payment gateway limits"] and page_of(raw, gateway.line_start) == 1
    assert gateway.page == 1


# -- the page a PDF citation is on, on every surface; a markdown note's citations have none

PAGES_AS_OF = "2025-03-05"


@pytest.fixture(scope="module")
def pdf_and_md(
    pool: ConnectionPool, embedder: Embedder, files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A tenant holding the same meeting as a PDF (its Action Items on page 2) and as markdown."""
    tenant = f"pages{uuid.uuid4().hex[:8]}"
    md = tmp_path_factory.mktemp("md") / "meeting.md"
    md.write_text(make_fixtures.MEETING_MD)
    report = ingest_paths(pool, embedder, [str(files["meeting.pdf"]), str(md)], options=IngestOptions(tenant=tenant))
    assert [o.status for o in report.outcomes] == ["new", "new"]
    return tenant


def _is_pdf(source: str) -> bool:
    return source.endswith(".pdf")


def test_pdf_passages_and_items_store_the_page_their_line_is_on(pool: ConnectionPool, pdf_and_md: str) -> None:
    with tenant_transaction(pool, pdf_and_md) as conn:
        meetings = conn.execute("SELECT id, source, raw_text, encoding FROM meetings").fetchall()
        for meeting_id, source, raw, encoding in meetings:
            chunks = conn.execute("SELECT line_start, page FROM chunks WHERE meeting_id = %s", (meeting_id,)).fetchall()
            items = conn.execute("SELECT source_line, page FROM items WHERE meeting_id = %s", (meeting_id,)).fetchall()
            assert chunks and items
            if encoding == "pdf":  # 0-based lines stored, 1-based lines asked
                assert [page for _, page in chunks] == [page_of(raw, line + 1) for line, _ in chunks]
                assert [page for _, page in items] == [page_of(raw, line + 1) for line, _ in items]
                assert {page for _, page in chunks} == {1, 2}
            else:
                assert _is_pdf(source) is False and {page for _, page in chunks + items} == {None}


def test_search_hits_and_ask_citations_carry_the_pdf_page(
    pool: ConnectionPool, embedder: Embedder, pdf_and_md: str
) -> None:
    query = "renew the TLS certificates"
    with tenant_transaction(pool, pdf_and_md) as conn:
        hits = hybrid_search(conn, embedder.encode_one(query), query, tenant=pdf_and_md)
    tls = {_is_pdf(h.source): h for h in hits if "TLS" in h.text}
    assert tls[True].page == 2 and tls[False].page is None

    options = AskOptions(tenant=pdf_and_md, as_of=date.fromisoformat(PAGES_AS_OF))
    answer = ask(pool, embedder, None, PriceTable.load(), "When will the TLS certificates be renewed?", options=options)
    assert answer.mode == "extractive", answer.text
    with tenant_transaction(pool, pdf_and_md) as conn:
        (raw,) = conn.execute("SELECT raw_text FROM meetings WHERE encoding = 'pdf'").fetchone()
    from_pdf = [c for c in answer.citations if _is_pdf(c.source) and c.kind != "attendance"]
    assert from_pdf and all(c.page == page_of(raw, c.line_start) for c in from_pdf)
    assert 2 in {c.page for c in from_pdf}  # the TLS renewal is on page 2
    assert all(c.page is None for c in answer.citations if not _is_pdf(c.source))

    item = _ask(pool, embedder, pdf_and_md, "TLS certificates").item
    assert item is not None and item.page == (2 if _is_pdf(item.source) else None)
    with tenant_transaction(pool, pdf_and_md) as conn:
        owned = list_items(conn, tenant=pdf_and_md, owner="Mike Ross")
    assert {(_is_pdf(i.source), i.page) for i in owned if "TLS" in i.text} == {(True, 2), (False, None)}


def test_cli_search_shows_the_pdf_page_and_nothing_new_for_markdown(pg_url: str, pdf_and_md: str) -> None:
    env = {"DATABASE_URL": pg_url, "MINUTEBOOK_TENANT": pdf_and_md, "COLUMNS": "200"}
    runner = CliRunner()
    done = runner.invoke(cli_app, ["search", "renew the TLS certificates", "--json", "--as-of", PAGES_AS_OF], env=env)
    assert done.exit_code == 0, done.output
    tls = {_is_pdf(h["source"]): h for h in json.loads(done.stdout)["hits"] if "TLS" in h["text"]}
    assert tls[True]["page"] == 2 and tls[False]["page"] is None
    text = runner.invoke(cli_app, ["search", "renew the TLS certificates", "--as-of", PAGES_AS_OF], env=env).stdout
    lines = re.findall(r"· (?:p\. (\d+) · )?lines (\d+)-(\d+)", text)
    shown = {(int(start), int(end)): page for page, start, end in lines}
    assert shown[(tls[True]["line_start"], tls[True]["line_end"])] == "2"
    assert shown[(tls[False]["line_start"], tls[False]["line_end"])] == ""  # markdown: as before, no page


def test_api_and_web_show_the_pdf_page(
    pg_url: str, pool: ConnectionPool, embedder: Embedder, pdf_and_md: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_url) as conn:
        _, key = create_key(conn, pdf_and_md, "pages test")
    settings = Settings(home=tmp_path, rate_per_second=1000.0, rate_burst=1000)
    client = TestClient(create_app(Runtime(settings, pg_url, pool, embedder)), base_url="http://127.0.0.1")
    bearer = {"Authorization": f"Bearer {key}"}
    found = client.get("/v1/search", params={"q": "renew the TLS certificates", "as_of": PAGES_AS_OF}, headers=bearer)
    assert found.status_code == 200, found.text
    tls = {_is_pdf(h["source"]): h for h in found.json()["hits"] if "TLS" in h["text"]}
    assert tls[True]["page"] == 2 and tls[False]["page"] is None
    owned = client.get("/v1/action-items", params={"owner": "Mike Ross"}, headers=bearer).json()["items"]
    assert {(_is_pdf(i["source"]), i["page"]) for i in owned if "TLS" in i["text"]} == {(True, 2), (False, None)}

    form = client.get("/sign-in").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    client.post("/sign-in", data={"key": key, "csrf": csrf.group(1), "next": "/"}, follow_redirects=False)
    html = client.get("/search", params={"q": "renew the TLS certificates"}).text
    metas = re.findall(r'<span class="meta">[^<]*· lines (\d+)–(\d+)', html)
    assert metas and re.search(rf"· p\. 2 · lines {tls[True]['line_start']}–{tls[True]['line_end']}", html)
    assert re.search(rf"Action Items · lines {tls[False]['line_start']}–{tls[False]['line_end']}", html)


def test_mcp_tools_show_the_pdf_page(
    pg_url: str, pool: ConnectionPool, embedder: Embedder, pdf_and_md: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_url) as conn:
        _, key = create_key(conn, pdf_and_md, "pages mcp test")
    rt = Runtime(Settings(home=tmp_path), pg_url, pool, embedder)
    caller = resolve_caller(KeyResolver(pool), key)

    async def go() -> dict[str, CallToolResult]:
        async with Client(build_server(rt, caller), mode="legacy", read_timeout_seconds=120) as client:
            return {
                "search": await client.call_tool("search_notes", {"query": "renew the TLS certificates"}),
                "items": await client.call_tool("list_action_items", {"owner": "Mike Ross"}),
                "ask": await client.call_tool("ask", {"question": "When will the TLS certificates be renewed?"}),
            }

    results = anyio.run(go)
    assert all(r.structured_content is not None and not r.is_error for r in results.values())
    said = {tool: "\n".join(c.text for c in r.content if isinstance(c, TextContent)) for tool, r in results.items()}
    passages = results["search"].structured_content["passages"]  # type: ignore[index]
    tls = {_is_pdf(h["source"]): h for h in passages if "TLS" in h["text"]}
    assert tls[True]["page"] == 2 and tls[False]["page"] is None
    assert f"meeting.pdf p. 2, lines {tls[True]['line_start']}-" in said["search"]
    assert f"meeting.md lines {tls[False]['line_start']}-" in said["search"]  # markdown: as before
    items = results["items"].structured_content["items"]  # type: ignore[index]
    assert {(_is_pdf(i["source"]), i["page"]) for i in items if "TLS" in i["text"]} == {(True, 2), (False, None)}
    assert re.search(r"\(meeting \d+ 2025-03-04, p\. 2, line \d+\)", said["items"])
    cited = results["ask"].structured_content["citations"]  # type: ignore[index]
    assert {c["page"] for c in cited if _is_pdf(c["source"])} == {2} and "meeting.pdf p. 2, lines" in said["ask"]
    assert all(c["page"] is None for c in cited if not _is_pdf(c["source"]))


def test_reextract_fills_the_pages_of_a_pdf_whose_passages_it_keeps(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions, files: dict[str, Path]
) -> None:
    ingest_paths(pool, embedder, [str(files["meeting.pdf"])], options=options)
    with tenant_transaction(pool, options.tenant) as conn:
        stored = conn.execute("SELECT id, page FROM chunks ORDER BY ordinal").fetchall()
        conn.execute("UPDATE chunks SET page = NULL")  # as a PDF stored before pages were kept
        conn.execute("UPDATE items SET page = NULL")
    report = reextract(pool, embedder, tenant=options.tenant, everything=True)
    assert (report.reextracted, report.reembedded, report.failed) == (1, [], [])
    with tenant_transaction(pool, options.tenant) as conn:
        assert conn.execute("SELECT id, page FROM chunks ORDER BY ordinal").fetchall() == stored  # same passages
        assert {r[0] for r in conn.execute("SELECT page FROM items")} == {1, 2}


# -- refused: one line naming the file, nothing stored


BAD = [
    ("scanned.pdf", "no text layer (scanned?); run OCR first"),
    ("encrypted.pdf", "encrypted PDF (password-protected)"),
    ("looping.pdf", "not a readable PDF (Detected cyclic page references"),
    ("corrupt.docx", "not a valid .docx file (not a zip archive"),
    ("no-document.docx", "not a valid .docx file (no word/document.xml inside)"),
    ("bomb.docx", "would unpack to 5.0 MB, over the 2.0 MB limit"),
    ("deep.html", "nested more than 256 levels deep"),
]


@pytest.mark.parametrize(("name", "reason"), BAD)
def test_bad_files_are_refused_with_one_clear_line(files: dict[str, Path], name: str, reason: str) -> None:
    with pytest.raises(IngestError) as err:
        read_note(files[name], max_bytes=100_000 if name == "bomb.docx" else 2_000_000)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{files[name]}: ")
    assert reason in message


def test_refused_files_store_nothing_and_the_batch_goes_on(
    pool: ConnectionPool, embedder: Embedder, tenant: str, files: dict[str, Path], tmp_path: Path
) -> None:
    for name, _ in BAD:
        (tmp_path / name).write_bytes(files[name].read_bytes())
    (tmp_path / "good.docx").write_bytes(files["meeting.docx"].read_bytes())
    report = ingest_paths(pool, embedder, [str(tmp_path)], options=IngestOptions(tenant=tenant, max_note_bytes=100_000))
    status = {Path(o.source).name: o.status for o in report.outcomes}
    assert status == {**{name: "failed" for name, _ in BAD}, "good.docx": "new"}
    with tenant_transaction(pool, tenant) as conn:
        sources = [r[0] for r in conn.execute("SELECT source FROM meetings WHERE tenant_id = %s", (tenant,))]
    assert [Path(s).name for s in sources] == ["good.docx"]


def test_pdf_limits_on_pages_and_page_size(monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_fixtures.to_pdf(make_fixtures.MEETING_MD, page_before="Action Items")
    monkeypatch.setattr(pdf_note, "MAX_PDF_PAGES", 1)
    with pytest.raises(IngestError, match=r"big\.pdf: refused, 2 pages is over the 1-page limit"):
        note_from_bytes(data, "big.pdf", max_bytes=LIMIT)
    monkeypatch.setattr(pdf_note, "MAX_PDF_PAGES", 10)
    monkeypatch.setattr(pdf_note, "MAX_PAGE_STREAM_BYTES", 100)
    with pytest.raises(IngestError, match=r"big\.pdf: refused, page 1 has .* MB of drawing instructions"):
        note_from_bytes(data, "big.pdf", max_bytes=LIMIT)


def test_oversized_and_empty_converted_files_are_refused() -> None:
    with pytest.raises(IngestError, match=r"x\.pdf: .* over the 0\.0 MB limit"):
        note_from_bytes(b"%PDF" + b"0" * 2000, "x.pdf", max_bytes=1000)
    with pytest.raises(IngestError, match=r"x\.docx: the file is empty"):
        note_from_bytes(b"", "x.docx", max_bytes=1000)
    with pytest.raises(IngestError, match=r"x\.html: the page has no text"):
        note_from_bytes(b"<html><script>x()</script></html>", "x.html", max_bytes=1000)


def test_new_formats_are_note_extensions() -> None:
    assert {".docx", ".html", ".htm", ".pdf"} <= NOTE_EXTENSIONS
