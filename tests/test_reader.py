import os
from pathlib import Path

import pytest

from minutebook.core.errors import IngestError
from minutebook.ingest.reader import expand_paths, read_note


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.md", b"", "empty"),
        ("blank.md", b"  \n\n\t\n", "empty"),
        ("image.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200), "binary"),
        ("bad.txt", b"caf\x81\x8d\x8f notes", "neither UTF-8 nor Windows-1252"),
        ("slides.pptx", b"PK\x03\x04 ...", "unsupported file type '.pptx'"),
    ],
)
def test_bad_notes_are_refused_with_the_file_and_reason(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    path = write(tmp_path / name, data)
    with pytest.raises(IngestError) as err:
        read_note(path, max_bytes=1000)
    assert name in str(err.value)
    assert reason in str(err.value)


def test_oversized_note_is_refused_before_reading(tmp_path: Path) -> None:
    path = write(tmp_path / "huge.md", b"# big\n" + b"x" * 2000)
    with pytest.raises(IngestError, match=r"over the 0\.0 MB limit"):
        read_note(path, max_bytes=1000)


def test_unreadable_path_is_a_clear_error(tmp_path: Path) -> None:
    link = tmp_path / "gone.md"
    link.symlink_to(tmp_path / "missing-target.md")
    with pytest.raises(IngestError, match="cannot be read"):
        read_note(link, max_bytes=1000)


def test_windows_1252_falls_back_and_says_so(tmp_path: Path) -> None:
    path = write(tmp_path / "legacy.txt", "Caf\u00e9 budget \u2013 \u20ac5K".encode("cp1252"))
    note = read_note(path, max_bytes=1000)
    assert note.text == "Caf\u00e9 budget \u2013 \u20ac5K"
    assert note.encoding == "cp1252"
    assert "Windows-1252" in note.warnings[0]


def test_utf8_bom_and_utf16_are_read(tmp_path: Path) -> None:
    assert read_note(write(tmp_path / "bom.md", b"\xef\xbb\xbf# Title\r\nx"), max_bytes=100).text == "# Title\nx"
    utf16 = write(tmp_path / "u16.txt", "Notes \u2713 done".encode("utf-16"))
    assert read_note(utf16, max_bytes=100).text == "Notes \u2713 done"


def test_expand_paths_walks_directories_and_globs(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.md").write_text("x")
    (tmp_path / "a" / "two.txt").write_text("x")
    (tmp_path / "a" / "skip.png").write_text("x")
    (tmp_path / "a" / ".hidden.md").write_text("x")
    (tmp_path / "b.md").write_text("x")
    files, missing = expand_paths([str(tmp_path / "a"), str(tmp_path / "*.md"), str(tmp_path / "nope.md")])
    assert [f.name for f in files] == ["one.md", "two.txt", "b.md"]
    assert missing == [(str(tmp_path / "nope.md"), "no such file or directory")]


def symlink_traps(root: Path) -> Path:
    """A notes folder with one good note and every link that leads nowhere."""
    notes = root / "notes"
    (notes / "sub").mkdir(parents=True)
    (notes / "ok.md").write_text("# Sync\nWe met.\n")
    os.symlink("self.md", notes / "self.md")  # a link to itself
    os.symlink("b.md", notes / "a.md")  # a → b → a
    os.symlink("a.md", notes / "b.md")
    os.symlink("..", notes / "sub" / "up")  # a folder link to its parent
    os.symlink("gone.md", notes / "dangling.md")
    return notes


@pytest.mark.parametrize("pattern", ["{d}", "{d}/**/*.md", "{d}/sub/up", "{d}/self.md"])
def test_symlink_loops_and_dangling_links_are_named_and_the_rest_goes_on(tmp_path: Path, pattern: str) -> None:
    notes = symlink_traps(tmp_path)
    files, skipped = expand_paths([pattern.format(d=notes), str(notes / "ok.md")])
    assert [f.resolve() for f in files] == [(notes / "ok.md").resolve()]
    reasons = {Path(p).name: why for p, why in skipped}
    expected = {"self.md", "a.md", "b.md", "dangling.md"} if not pattern.endswith("self.md") else {"self.md"}
    assert set(reasons) == expected  # each named once, however many ways it was reached
    for name in expected - {"dangling.md"}:
        assert reasons[name] == "skipped, a symbolic link loop (it leads back to itself)"
    if "dangling.md" in expected:
        assert reasons["dangling.md"] == "skipped, a symbolic link to gone.md, which does not exist"
