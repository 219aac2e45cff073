"""Notes kept as Word documents, web pages and PDFs, converted into the markdown-shaped text the
note grammar reads (headings, nested lists, pipe tables, bold labels, checkboxes), so one grammar
parses every format and the stored text is what re-extraction parses again later."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath

from minutebook.ingest.formats.common import Converted, page_of

__all__ = ["BINARY_EXTENSIONS", "FORMAT_EXTENSIONS", "Converted", "convert", "page_of"]

Converter = Callable[..., Converted]
FORMAT_EXTENSIONS = frozenset({".docx", ".html", ".htm", ".pdf"})
BINARY_EXTENSIONS = frozenset({".docx", ".pdf"})  # not text: they arrive as files, never as JSON strings


def _converter(suffix: str) -> Converter:
    # each converter imports its library when first used: importing this package stays instant
    if suffix == ".docx":
        from minutebook.ingest.formats.docx_note import docx_to_note

        return docx_to_note
    if suffix == ".pdf":
        from minutebook.ingest.formats.pdf_note import pdf_to_note

        return pdf_to_note
    from minutebook.ingest.formats.html_note import html_to_note

    return html_to_note


def convert(data: bytes, name: str, *, max_bytes: int) -> Converted:
    """The note text of a .docx, .html/.htm or .pdf file; IngestError naming the file otherwise."""
    return _converter(PurePath(name).suffix.lower())(data, name, max_bytes=max_bytes)
