import re

from conftest import Q4_NOTE, TPM_NOTE

from minutebook.core.embedder import Embedder
from minutebook.ingest.chunk import chunk_note
from minutebook.ingest.parse import LIST_MARKER, parse_note


def test_chunks_never_cross_sections_and_carry_their_prefix(embedder: Embedder) -> None:
    note = parse_note(TPM_NOTE.read_text(), TPM_NOTE.name)
    chunks = chunk_note(note, embedder.count_tokens)
    spans = {s.path: {ln.number for ln in s.lines} for s in note.sections}
    for c in chunks:
        lines = set(range(c.line_start, c.line_end + 1))
        assert lines & spans[c.section_path], c
        assert lines <= spans[c.section_path] | {n for n in lines if not note.lines[n].strip()}
        assert c.embed_text.startswith("Weekly TPM Status Meeting - Week of Oct 21-25, 2025 — ")
        assert c.embed_text.endswith(c.text)
    risk = next(c for c in chunks if c.section_path == ("Risk Review (Oct 24)", "Infrastructure Costs"))
    assert "Owner: Mike (DevOps Lead), Due: Oct 31" in risk.text
    assert "2025-10-24 — Risk Review (Oct 24) › Infrastructure Costs" in risk.embed_text


def test_every_list_item_lands_whole_in_one_chunk(embedder: Embedder) -> None:
    note = parse_note(Q4_NOTE.read_text(), Q4_NOTE.name)
    chunks = chunk_note(note, embedder.count_tokens)
    texts = "\n".join(c.text for c in chunks)
    headings = {s.heading_line for s in note.sections}  # items that became sub-section titles
    paths = {part for s in note.sections for part in s.path}
    for number, line in enumerate(note.lines):
        if LIST_MARKER.match(line):
            if number in headings:
                assert any(p in line for p in paths)
            else:
                assert line.strip() in texts


def test_long_section_splits_between_items_within_the_token_budget(embedder: Embedder) -> None:
    items = "\n".join(
        f"- Item {i}: the team reviewed vendor contract number {i} and agreed to renegotiate the terms."
        for i in range(60)
    )
    note = parse_note(f"# Vendor review\n\n## Contracts\n{items}\n", "2025-01-10-vendors.md")
    chunks = chunk_note(note, embedder.count_tokens, max_tokens=230)
    assert len(chunks) > 3
    assert all(c.token_count <= 230 for c in chunks)
    seen = [int(m) for c in chunks for m in re.findall(r"Item (\d+):", c.text)]
    assert seen == list(range(60))  # in order, none cut or lost
    assert all(c.section_path == ("Contracts",) for c in chunks)
    # balanced: no tiny leftover chunk at the end
    sizes = [c.token_count for c in chunks]
    assert min(sizes) > max(sizes) / 3


def test_one_enormous_sentence_is_split_rather_than_truncated(embedder: Embedder) -> None:
    words = " ".join(f"word{i}" for i in range(3000))
    note = parse_note(f"Notes\n\n{words}\n", "blob.txt")
    chunks = chunk_note(note, embedder.count_tokens, max_tokens=230)
    assert len(chunks) > 5
    assert all(c.token_count <= 230 for c in chunks)
    assert " ".join(c.text for c in chunks).split() == words.split()


def test_sentences_are_not_cut(embedder: Embedder) -> None:
    para = " ".join(f"Sentence number {i} explains one more detail of the rollout plan." for i in range(80))
    note = parse_note(f"Rollout\n\n{para}\n", "rollout.txt")
    chunks = chunk_note(note, embedder.count_tokens, max_tokens=200)
    assert len(chunks) > 1
    for c in chunks:
        assert c.text.startswith("Sentence number") and c.text.endswith("rollout plan.")
