"""Meeting transcripts: WebVTT, SRT and plain-text exports, read into speaker turns.

Detected by content (a `.txt` export is still a transcript); the extension only decides which
errors make sense ("missing WEBVTT header" for a `.vtt` that is not WebVTT). Consecutive cues
of one speaker merge into a turn that keeps its start and end time and its source lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePath

from minutebook.core.errors import IngestError

TRANSCRIPT_EXTENSIONS = frozenset({".vtt", ".srt"})

_TIME = r"(?:(\d{1,3}):)?([0-5]?\d):([0-5]\d)(?:[.,](\d{1,3}))?"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(?:\s+.*)?$")
_TIMING_LOOSE = re.compile(r"-->")
# A tag ends at the next ">" and never holds a "<": read to the end of the line instead, each of
# thousands of unclosed "<v " would cost the rest of the line (quadratic).
_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+([^<>]+)>")
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>|<\d{1,3}:\d{2}(?::\d{2})?[.,]\d{1,3}>")
_NAME = r"(?P<speaker>[A-Z][\w.'’-]*(?: [A-Z][\w.'’-]*){0,3})"
_CLOCK = r"(?P<time>\d{1,2}:\d{2}(?::\d{2})?)"
_SPEAKER = re.compile(rf"^(?:-\s*)?{_NAME}:\s+(?P<text>\S.*)$")
_BRACKET_SPEAKER = re.compile(r"^\[(?P<speaker>[A-Z][\w.'’ -]{0,40})\]\s*(?P<text>\S.*)$")
# `[00:01:12] Name: text` or `00:01:12 Name: text`
_STAMPED = re.compile(rf"^\s*\[?{_CLOCK}\]?\s+{_NAME}:\s*(?P<text>.*)$")
# `Name  00:01:12` on its own line, the turn's text below (Otter, Google Meet)
_NAME_STAMP = re.compile(rf"^{_NAME}\s+{_CLOCK}\s*$")


@dataclass(frozen=True)
class Turn:
    speaker: str | None
    start: float | None  # seconds from the start of the recording
    end: float | None
    text: str
    line_start: int  # 0-based source lines
    line_end: int


@dataclass
class Transcript:
    format: str  # vtt | srt | stamped
    turns: list[Turn] = field(default_factory=list)
    header: list[str] = field(default_factory=list)  # header and NOTE text: may carry a title or date

    @property
    def speakers(self) -> list[str]:
        return list(dict.fromkeys(t.speaker for t in self.turns if t.speaker))


def _seconds(groups: tuple[str | None, ...]) -> float:
    hours, minutes, secs, millis = groups
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(secs or 0) + int((millis or "0").ljust(3, "0")) / 1000


def _clock_seconds(text: str) -> float:
    parts = [int(p) for p in text.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


def detect_format(text: str) -> str | None:
    """vtt, srt or stamped when `text` is a transcript; None for ordinary notes."""
    lines = [ln.strip() for ln in text.lstrip("\ufeff").splitlines()]
    content = [ln for ln in lines if ln]
    if not content:
        return None
    if content[0].startswith("WEBVTT"):
        return "vtt"
    timings = sum(1 for ln in content[:200] if _TIMING.match(ln))
    if timings >= 2 or (timings and len(content) <= 6):
        return "srt" if any("," in ln for ln in content[:200] if _TIMING.match(ln)) else "vtt"
    stamped = sum(1 for ln in content if _STAMPED.match(ln) or _NAME_STAMP.match(ln))
    if stamped >= 3 and stamped >= 0.3 * len(content):
        return "stamped"
    return None


def parse_transcript(text: str, name: str) -> Transcript:
    """Turns of a transcript; IngestError naming the file and line when it is malformed."""
    suffix = PurePath(name).suffix.lower()
    found = detect_format(text)
    if suffix == ".vtt" and not text.lstrip("\ufeff").lstrip().startswith("WEBVTT"):
        raise IngestError(f"{name}: not a WebVTT file (missing the WEBVTT header on the first line)")
    if suffix == ".srt" and found != "srt":
        raise IngestError(f"{name}: not an SRT file (no `00:00:01,000 --> 00:00:04,000` cue timings)")
    lines = text.lstrip("\ufeff").splitlines()
    if found in ("vtt", "srt"):
        transcript = _parse_cues(lines, name, found)
    elif found == "stamped":
        transcript = _parse_stamped(lines)
    else:
        raise IngestError(f"{name}: not a transcript")
    if not transcript.turns:
        raise IngestError(f"{name}: the transcript has no spoken text")
    return transcript


def _blocks(lines: list[str]) -> list[list[tuple[int, str]]]:
    blocks: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        if line.strip():
            current.append((i, line.rstrip()))
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _parse_cues(lines: list[str], name: str, fmt: str) -> Transcript:
    transcript = Transcript(fmt)
    cues: list[Turn] = []
    blocks = _blocks(lines)
    if blocks and blocks[0][0][1].startswith("WEBVTT"):
        header = blocks.pop(0)
        transcript.header.append(header[0][1].removeprefix("WEBVTT").strip(" -:\t"))
        transcript.header += [t for _, t in header[1:] if "-->" not in t]
    for block in blocks:
        first = block[0][1].strip()
        if fmt == "vtt" and re.match(r"^(NOTE|STYLE|REGION)\b", first):
            if first.startswith("NOTE"):
                transcript.header.append(" ".join([first.removeprefix("NOTE").strip(), *(t for _, t in block[1:])]))
            continue
        timing_at = next((k for k, (_, t) in enumerate(block[:3]) if _TIMING_LOOSE.search(t)), None)
        if timing_at is None:
            if fmt == "srt" and len(block) == 1 and first.isdigit():
                continue  # a cue number whose cue is missing: nothing to keep
            raise IngestError(f"{name}: line {block[0][0] + 1}: a cue without a `start --> end` timing line")
        number, timing = block[timing_at]
        m = _TIMING.match(timing)
        if not m:
            raise IngestError(f"{name}: line {number + 1}: bad cue timing {timing.strip()!r}")
        start, end = _seconds(m.groups()[:4]), _seconds(m.groups()[4:8])
        if end < start:
            raise IngestError(f"{name}: line {number + 1}: cue ends before it starts ({timing.strip()!r})")
        payload = block[timing_at + 1 :]
        if not payload:
            continue
        speaker: str | None = None
        texts: list[str] = []
        for _, raw in payload:
            voice = _VOICE.search(raw)
            if voice:
                speaker = voice.group(1).strip()
            line = " ".join(_TAG.sub("", raw).split())
            said = _SPEAKER.match(line) or _BRACKET_SPEAKER.match(line)
            if said and not voice:
                speaker = said["speaker"].strip()
                line = said["text"]
            if line:
                texts.append(line)
        if texts:
            cues.append(Turn(speaker, start, end, " ".join(texts), payload[0][0], payload[-1][0]))
    transcript.turns = merge_turns(cues)
    return transcript


def _parse_stamped(lines: list[str]) -> Transcript:
    transcript = Transcript("stamped")
    cues: list[Turn] = []
    current: dict | None = None

    def close() -> None:
        if current and current["text"]:
            cues.append(
                Turn(
                    current["speaker"],
                    current["start"],
                    None,
                    " ".join(current["text"]),
                    current["first"],
                    current["last"],
                )
            )

    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        if m := _STAMPED.match(line):
            close()
            current = {"speaker": m["speaker"], "start": _clock_seconds(m["time"]), "text": [], "first": i, "last": i}
            if m["text"].strip():
                current["text"].append(m["text"].strip())
        elif m := _NAME_STAMP.match(line):
            close()
            current = {"speaker": m["speaker"], "start": _clock_seconds(m["time"]), "text": [], "first": i, "last": i}
        elif current is not None:
            current["text"].append(line)
            current["last"] = i
        else:
            transcript.header.append(line)
    close()
    # a turn ends where the next one starts
    timed = [
        Turn(t.speaker, t.start, cues[k + 1].start if k + 1 < len(cues) else t.start, t.text, t.line_start, t.line_end)
        for k, t in enumerate(cues)
    ]
    transcript.turns = merge_turns(timed)
    return transcript


def merge_turns(cues: list[Turn]) -> list[Turn]:
    """Consecutive cues of one speaker become one turn; a cue naming nobody continues the turn
    before it (exporters name the speaker on the first cue only)."""
    runs: list[list[Turn]] = []  # joined once at the end: growing one string cue by cue is quadratic
    for cue in cues:
        if runs and (cue.speaker is None or cue.speaker == runs[-1][0].speaker):
            runs[-1].append(cue)
        else:
            runs.append([cue])
    turns: list[Turn] = []
    for run in runs:
        first = run[0]
        end = first.end
        for cue in run[1:]:
            end = cue.end if cue.end is not None else end
        text = " ".join(c.text for c in run)
        turns.append(
            first if len(run) == 1 else Turn(first.speaker, first.start, end, text, first.line_start, run[-1].line_end)
        )
    return turns
