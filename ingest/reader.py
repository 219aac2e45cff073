"""Reading note files safely: size limit, binary detection, and honest decoding."""

from __future__ import annotations

import errno
import glob
import hashlib
import os
import stat
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from minutebook.core.errors import IngestError
from minutebook.ingest.formats import FORMAT_EXTENSIONS, convert

TEXT_EXTENSIONS = frozenset({".md", ".markdown", ".mdown", ".txt", ".text", ".notes", ".vtt", ".srt"})
# Word documents, web pages and PDFs are converted (ingest/formats) into the same markdown-shaped text
NOTE_EXTENSIONS = TEXT_EXTENSIONS | FORMAT_EXTENSIONS


@dataclass(frozen=True)
class NoteText:
    source: str  # the note's identity within a tenant: absolute path or upload name
    name: str  # file name, used for dates and titles
    text: str
    encoding: str
    warnings: list[str] = field(default_factory=list)
    modified: date | None = None  # the file's own time: a transcript's date of last resort

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    return control > max(8, len(sample) // 100)


def decode_note(data: bytes, name: str, *, max_bytes: int) -> tuple[str, str, list[str]]:
    """Text, encoding used and warnings; IngestError for empty, oversized or binary input."""
    if len(data) > max_bytes:
        raise IngestError(_too_large(name, len(data), max_bytes))
    if not data.strip():
        raise IngestError(f"{name}: the file is empty")
    warnings: list[str] = []
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16", warnings
        except UnicodeDecodeError as exc:
            raise IngestError(f"{name}: has a UTF-16 byte-order mark but is not valid UTF-16") from exc
    if _looks_binary(data):
        raise IngestError(f"{name}: looks like a binary file, not text notes")
    for encoding in ("utf-8-sig",):
        try:
            text = data.decode(encoding)
            return text, "utf-8", warnings
        except UnicodeDecodeError:
            pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise IngestError(f"{name}: is neither UTF-8 nor Windows-1252 text ({exc.reason})") from exc
    warnings.append(f"{name}: not valid UTF-8; read as Windows-1252 (cp1252)")
    return text, "cp1252", warnings


def note_text(data: bytes, name: str, *, max_bytes: int) -> tuple[str, str, list[str]]:
    """Text, encoding (or the format it was converted from) and warnings of a note file's bytes."""
    if Path(name).suffix.lower() not in FORMAT_EXTENSIONS:
        text, encoding, warnings = decode_note(data, name, max_bytes=max_bytes)
        return text.replace("\r\n", "\n").replace("\r", "\n"), encoding, warnings
    if len(data) > max_bytes:
        raise IngestError(_too_large(name, len(data), max_bytes))
    if not data.strip():
        raise IngestError(f"{name}: the file is empty")
    converted = convert(data, name, max_bytes=max_bytes)
    return converted.text, converted.encoding, list(converted.warnings)


def _kind_of(mode: int) -> str:
    for test, kind in (
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def _read_bounded(path: Path, max_bytes: int) -> tuple[bytes, date | None]:
    """The file's bytes, never more than `max_bytes` + 1 of them, and only from a regular file:
    a FIFO would block the batch forever and a link to /dev/zero would never end."""
    name = str(path)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)  # of what was opened, not of the name: no swap between check and read
        if not stat.S_ISREG(info.st_mode):
            raise IngestError(f"{name}: skipped, {_kind_of(info.st_mode)} is not a note file")
        if info.st_size > max_bytes:  # refuse before reading a huge file into memory
            raise IngestError(_too_large(name, info.st_size, max_bytes))
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(max_bytes + 1)
        modified = datetime.fromtimestamp(info.st_mtime).date()
    finally:
        os.close(fd)
    return data, modified


def _too_large(name: str, size: int, max_bytes: int) -> str:
    return (
        f"{name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.1f} MB limit "
        "(raise MINUTEBOOK_MAX_NOTE_BYTES to allow it)"
    )


def read_note(path: Path, *, max_bytes: int) -> NoteText:
    name = str(path)
    if path.suffix.lower() not in NOTE_EXTENSIONS:
        raise IngestError(
            f"{name}: unsupported file type '{path.suffix or '(none)'}' "
            f"(supported: {', '.join(sorted(NOTE_EXTENSIONS))})"
        )
    try:
        data, modified = _read_bounded(path, max_bytes)
    except IngestError:
        raise
    except OSError as exc:
        raise IngestError(f"{name}: cannot be read ({exc.strerror or exc})") from exc
    text, encoding, warnings = note_text(data, name, max_bytes=max_bytes)
    return NoteText(str(path.resolve()), path.name, text, encoding, warnings, modified)


def note_from_bytes(data: bytes, name: str, *, max_bytes: int) -> NoteText:
    """A note that did not come from a file (an upload): `name` is its identity."""
    if Path(name).suffix.lower() not in NOTE_EXTENSIONS:
        raise IngestError(f"{name}: unsupported file type '{Path(name).suffix or '(none)'}'")
    text, encoding, warnings = note_text(data, name, max_bytes=max_bytes)
    return NoteText(name, Path(name).name, text, encoding, warnings)


def expand_paths(patterns: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files named, found under directories (recursively) or matched by globs.

    Returns the files in a stable order and (pattern or path, reason) for arguments that matched
    nothing and for links that lead nowhere (a loop, a missing target): those are named and
    skipped, the rest of the batch goes on. Inside directories only note files are taken, hidden
    entries are skipped and links to directories are not followed (one to a parent would loop).
    """
    files: list[Path] = []
    missing: list[tuple[str, str]] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        try:
            key = path.resolve(strict=True)
        except (OSError, RuntimeError) as exc:  # RuntimeError: Python's "Symlink loop from …"
            link = path.parent.resolve() / path.name  # named once, however many ways it was reached
            if link not in seen:
                seen.add(link)
                missing.append((str(path), _unreachable(path, exc)))
            return
        if key not in seen:
            seen.add(key)
            files.append(path)

    for pattern in patterns:
        matches = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
        if glob.has_magic(pattern) and not matches:
            missing.append((pattern, "no file matches this pattern"))
            continue
        for match in matches:
            path = Path(match)
            if path.is_dir():
                for root, dirs, names in os.walk(path):
                    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                    for n in sorted(names):
                        if not n.startswith(".") and Path(n).suffix.lower() in NOTE_EXTENSIONS:
                            add(Path(root) / n)
            elif path.exists() or path.is_symlink():
                add(path)
            else:
                missing.append((match, "no such file or directory"))
    return files, missing


def _unreachable(path: Path, exc: Exception) -> str:
    """Why `path` leads to no file: a symbolic link loop, a link to nothing, or the OS's reason."""
    if isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP:
        return "skipped, a symbolic link loop (it leads back to itself)"
    if path.is_symlink():
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return f"skipped, a symbolic link to {target}, which does not exist"
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"cannot be read ({reason})"
