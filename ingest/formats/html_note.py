"""Web pages (`.html`, `.htm`: Confluence, Google Docs "web page" and Notion exports) as notes.

lxml parses the page; one iterative walk (no recursion, whatever the nesting) writes h1–h6 as
headings, nested `ul`/`ol` as nested list items (Google Docs' flat `lst-kix_…-N` lists by the level
in their class), tables as pipe tables (a Notion properties table as `Key: value` lines), bold
(tags, inline styles and Google Docs' style classes) as `**…**`, and checkbox inputs as
`- [ ]`/`- [x]`. Scripts, styles, navigation and page chrome are dropped. `<title>` and `<meta>`
dates are the fallbacks for a body without a title or date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from lxml import etree

from minutebook.core.dates import first_date
from minutebook.core.errors import IngestError
from minutebook.ingest.formats.common import Converted, MarkdownWriter, Segment, plain, render, with_fallbacks

# libxml2 stops building the tree this deep (and says so); a page nested deeper is refused rather
# than read in part.
MAX_HTML_DEPTH = 256
_DROP = frozenset(
    {"script", "style", "noscript", "template", "head", "nav", "footer", "svg", "math", "button", "select",
     "textarea", "iframe", "object", "embed", "canvas", "audio", "video", "map", "dialog"}
)  # fmt: skip
_CHROME = re.compile(r"breadcrumb|(^|[-_ ])footer|navigation|(^|[-_ ])toc($|[-_ ])|sidebar|skip-link", re.I)
_BLOCK = frozenset(
    {"p", "div", "section", "article", "main", "blockquote", "pre", "dl", "dt", "dd", "figure", "figcaption",
     "address", "details", "summary", "header", "hr", "center", "fieldset", "body"}
)  # fmt: skip
_HEADING = {f"h{n}": n for n in range(1, 7)}
_BOLD_TAGS = frozenset({"b", "strong"})
_BOLD_STYLE = re.compile(r"font-weight\s*:\s*(bold|[6-9]00)", re.I)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_SPACES = re.compile(r"\s+")
_STYLE_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_TITLE_MARKS = frozenset({"title", "pagetitle", "page-title", "title-heading"})
_TASK_LISTS = frozenset({"inline-task-list"})  # Confluence's task lists: a done task's <li> is "checked"
_NOTION_BOX = frozenset({"checkbox-on", "checkbox-off"})
_KIX_LEVEL = re.compile(r"\blst-kix_[\w]+-(\d+)\b")
# <meta> names and properties that date a page, most specific first
_META_DATES = (
    "article:published_time", "date", "dc.date", "dcterms.date", "dc.date.created", "dcterms.created",
    "created", "creation_date", "article:modified_time", "last-modified",
)  # fmt: skip


@dataclass
class _List:
    ordered: bool
    level: int
    count: int = 0


@dataclass
class _Table:
    rows: list[list[str]] = field(default_factory=list)
    heads: list[list[bool]] = field(default_factory=list)
    cell: list[Segment] | None = None
    depth: int = 0  # tables nested inside this one's cells: their text joins the cell


def _bold_classes(root: Any) -> frozenset[str]:
    """Classes a `<style>` block makes bold (Google Docs writes `.c3{font-weight:700}`)."""
    found: set[str] = set()
    for style in root.iter("style"):
        for selectors, body in _STYLE_RULE.findall(style.text or ""):
            if _BOLD_STYLE.search(body):
                found.update(re.findall(r"^\s*\.([\w-]+)\s*$", selectors.replace(",", "\n"), re.M))
    return frozenset(found)


def _meta(root: Any) -> tuple[str | None, date | None]:
    title = next((" ".join(t.text_content().split()) for t in root.iter("title")), None)
    metas: dict[str, str] = {}
    for m in root.iter("meta"):
        key = (m.get("name") or m.get("property") or m.get("itemprop") or m.get("http-equiv") or "").lower()
        if key and m.get("content"):
            metas.setdefault(key, m.get("content", ""))
    when = None
    for key in _META_DATES:
        if key in metas and (found := first_date(metas[key].replace("T", " ")[:40], None)):
            when = found.start
            break
    if when is None:
        for t in root.iter("time"):
            if (stamp := t.get("datetime")) and (found := first_date(stamp.replace("T", " ")[:40], None)):
                when = found.start
                break
    return title or None, when


class _Walk:
    def __init__(self, bold_classes: frozenset[str], titled: bool) -> None:
        self.out = MarkdownWriter()
        self.shift = 1 if titled else 0  # under a page title, h1 is a section: one level down
        self.bold_classes = bold_classes
        self.buffer: list[Segment] = []
        self.bold = 0
        self.lists: list[_List] = []
        self.item_open = False  # the current <li> already wrote its line: more text continues it
        self.heading: int | None = None
        self.tables: list[_Table] = []
        self.kix: tuple[int, bool] | None = None  # a Google Docs list: (level, ordered)
        self.kix_counts: dict[int, int] = {}
        self.pre = 0  # inside <pre>: its lines are kept

    def add(self, text: str | None, *, markup: bool = False) -> None:
        """Text of the page (its line breaks are spaces, but in <pre>) or of our own `markup`."""
        if not text:
            return
        if not markup and not self.pre:
            text = _SPACES.sub(" ", text)
        if not self.tables:
            self.buffer.append((text, self.bold > 0))
        elif (cell := self.tables[-1].cell) is not None:  # text between cells is layout whitespace
            cell.append((text, self.bold > 0))

    def is_bold(self, el: Any) -> bool:
        if el.tag in _BOLD_TAGS or _BOLD_STYLE.search(el.get("style") or ""):
            return True
        return bool(self.bold_classes and set((el.get("class") or "").split()) & self.bold_classes)

    def flush(self) -> None:
        """Write the text gathered so far as what it is: a heading, a list item, its
        continuation, or a paragraph."""
        if self.tables:
            return
        segments, self.buffer = self.buffer, []
        lines = [render(line) for line in _split_lines(segments)]
        lines = [ln for ln in lines if ln]
        if not lines:
            return
        if self.heading is not None:
            self.out.heading(self.heading, plain([(" ".join(lines), False)]).replace("**", ""))
            return
        level, ordered = self.list_position()
        if level is not None and not self.item_open:
            number = None
            if ordered:
                number = self.next_number(level)
            self.out.item(level, number, lines[0])
            self.item_open = True
            lines = lines[1:]
        if level is None:
            self.out.paragraph("\n".join(lines))
            return
        for line in lines:
            self.out.continuation(line)

    def list_position(self) -> tuple[int | None, bool]:
        if self.kix is not None:
            return self.kix
        if not self.lists:
            return None, False
        return len(self.lists) - 1, self.lists[-1].ordered

    def next_number(self, level: int) -> int:
        if self.kix is not None:
            for deeper in [k for k in self.kix_counts if k > level]:
                del self.kix_counts[deeper]
            self.kix_counts[level] = self.kix_counts.get(level, 0) + 1
            return self.kix_counts[level]
        self.lists[-1].count += 1
        return self.lists[-1].count

    def start(self, el: Any) -> None:
        tag = el.tag
        if self.is_bold(el):
            self.bold += 1
        if tag == "table":
            if self.tables and self.tables[-1].cell is not None:
                self.tables[-1].depth += 1
                return
            self.flush()
            self.tables.append(_Table())
        elif self.tables and self.tables[-1].depth:
            if tag in ("td", "th", "br", "p", "div", "li", "tr"):
                self.add(" ")
        elif tag == "tr" and self.tables:
            self.tables[-1].rows.append([])
            self.tables[-1].heads.append([])
        elif tag in ("td", "th") and self.tables:
            self.tables[-1].cell = []
            if not self.tables[-1].rows:
                self.tables[-1].rows.append([])
                self.tables[-1].heads.append([])
            self.tables[-1].heads[-1].append(tag == "th")
        elif self.tables:
            if tag in ("br", "p", "div", "li"):
                self.add(" ")
        elif tag in _HEADING or _is_title(el):
            self.flush()
            self.heading = 1 if _is_title(el) else _HEADING[tag] + self.shift
        elif tag in ("ul", "ol"):
            self.flush()
            kix = _KIX_LEVEL.search(el.get("class") or "")
            if kix:
                self.kix = (min(int(kix[1]), 8), tag == "ol")
                self.kix_counts = {k: v for k, v in self.kix_counts.items() if k <= self.kix[0]}
            else:
                self.kix = None
                self.lists.append(_List(tag == "ol", len(self.lists)))
        elif tag == "li":
            self.flush()
            self.item_open = False
            parent = el.getparent()
            if parent is not None and _TASK_LISTS.intersection((parent.get("class") or "").split()):
                self.add("[x] " if "checked" in (el.get("class") or "").split() else "[ ] ", markup=True)
        elif tag == "br":
            self.add("\n", markup=True)
        elif tag == "input" and (el.get("type") or "").lower() == "checkbox":
            self.add("[x] " if el.get("checked") is not None else "[ ] ")
        elif _NOTION_BOX.intersection((el.get("class") or "").split()):  # Notion's to-do boxes
            self.add("[x] " if "checkbox-on" in (el.get("class") or "").split() else "[ ] ")
        elif tag in _BLOCK:
            self.flush()
        if tag == "pre":
            self.pre += 1
        self.add(el.text)

    def end(self, el: Any) -> None:
        tag = el.tag
        if self.tables and tag == "table":
            table = self.tables[-1]
            if table.depth:
                table.depth -= 1
            else:
                self.tables.pop()
                self.write_table(table)
        elif self.tables and self.tables[-1].depth:
            pass
        elif tag in ("td", "th") and self.tables:
            table = self.tables[-1]
            table.rows[-1].append(plain(table.cell or []))
            table.cell = None
        elif (tag in _HEADING or _is_title(el)) and not self.tables:
            self.flush()
            self.heading = None
        elif tag in ("ul", "ol") and not self.tables:
            self.flush()
            if _KIX_LEVEL.search(el.get("class") or ""):
                self.kix = None
            elif self.lists:
                self.lists.pop()
            self.item_open = bool(self.lists)  # text after a nested list continues the outer item
        elif tag == "li" and not self.tables:
            self.flush()
            self.item_open = False
        elif tag in _BLOCK and not self.tables and not _NOTION_BOX.intersection((el.get("class") or "").split()):
            self.flush()
        if self.is_bold(el):
            self.bold -= 1
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        self.add(el.tail)

    def write_table(self, table: _Table) -> None:
        rows = [r for r in table.rows if any(c.strip() for c in r)]
        heads = [h for h, r in zip(table.heads, table.rows, strict=False) if any(c.strip() for c in r)]
        key_value = rows and all(
            len(r) == 2 and h[:1] == [True] and h[1:2] != [True] for r, h in zip(rows, heads, strict=False)
        )
        if key_value:  # a properties table (Notion): "Date: March 4, 2025" lines
            for key, value in rows:
                self.out.field(f"{key.rstrip(':')}: {value}")
            return
        self.out.table(rows)


def _split_lines(segments: list[Segment]) -> list[list[Segment]]:
    lines: list[list[Segment]] = [[]]
    for text, bold in segments:
        for k, piece in enumerate(text.split("\n")):
            if k:
                lines.append([])
            lines[-1].append((piece, bold))
    return lines


def _is_title(el: Any) -> bool:
    """The page's own title in its body: Google Docs' `p.title`, Confluence's `h1#title-heading`,
    Notion's `h1.page-title`."""
    if el.tag not in ("p", "h1", "div", "header"):
        return False
    return bool(_TITLE_MARKS.intersection([*(el.get("class") or "").split(), el.get("id") or ""]))


def _hidden(el: Any) -> bool:
    if el.tag in _DROP or el.get("hidden") is not None or el.get("aria-hidden") == "true":
        return True
    if (el.get("role") or "").lower() in ("navigation", "banner", "contentinfo"):
        return True
    if _HIDDEN_STYLE.search(el.get("style") or ""):
        return True
    marks = f"{el.get('id') or ''} {el.get('class') or ''}"
    return bool(marks.strip()) and bool(_CHROME.search(marks))


def html_to_note(data: bytes, name: str, *, max_bytes: int) -> Converted:
    """The page as note text; IngestError (naming the file) for one nested too deep to read whole."""
    import lxml.html

    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True)
    try:
        root = lxml.html.document_fromstring(data, parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
        raise IngestError(f"{name}: not readable as HTML ({exc})") from None
    if any(e.type_name == "ERR_RESOURCE_LIMIT" or "depth" in e.message.lower() for e in parser.error_log):
        raise IngestError(f"{name}: refused, the HTML is nested more than {MAX_HTML_DEPTH} levels deep")
    title, when = _meta(root)
    walk = _Walk(_bold_classes(root), titled=any(_is_title(el) for el in root.iter("p", "h1", "div", "header")))
    events = etree.iterwalk(root, events=("start", "end"))
    for event, el in events:
        if not isinstance(el.tag, str):  # comments and processing instructions
            if event == "end":
                walk.add(el.tail)
            continue
        if event == "start":
            if _hidden(el):
                events.skip_subtree()
                el.set("data-minutebook-skipped", "")
                continue
            walk.start(el)
        elif el.get("data-minutebook-skipped") is not None:
            walk.add(el.tail)
        else:
            walk.end(el)
    walk.flush()
    body = walk.out.text()
    if not body.strip():
        raise IngestError(f"{name}: the page has no text")
    return Converted(with_fallbacks(body, name, title=title, when=when), "html")
