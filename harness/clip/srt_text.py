"""The SubRip envelope of a DJI .SRT: cues with their own time span, line number and payload.

Survives what DJI and editors ship: a UTF-8 BOM, CRLF, trailing spaces, blank lines holding
spaces, several blank lines between cues, `<font>` tags, cues with a date line but no timing
line (one generation writes those), and enterprise cues (Matrice class) that hold a blank line
and a lone `0` inside their payload. The file is read line by line, never as one regex.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ClipError

log = logging.getLogger(__name__)

_TIME = re.compile(
    r"^(\d+):(\d\d):(\d\d)[,.](\d{1,3})\s*-->\s*(\d+):(\d\d):(\d\d)[,.](\d{1,3})\s*$"
)
_CLOCKISH = re.compile(r"^\d+:\d\d:\d\d")  # a timing line, however mangled
_TAG = re.compile(r"<[^>]*>")
_FONT = re.compile(r'<font\s+size\s*=\s*"?(\d+)', re.IGNORECASE)


@dataclass(frozen=True)
class Cue:
    """One subtitle cue; `start_s`/`end_s` are None when the cue has no timing line."""

    line: int  # 1-based line of the cue number
    number: int | None
    start_s: float | None
    end_s: float | None
    payload: str  # the payload lines joined by a space, tags removed
    font_size: int | None
    problem: str | None = None  # why this cue cannot be used (e.g. a bad timing line)


def bad_cue(path: Path, cue: Cue, msg: str, skip_bad: bool, kept: int) -> None:
    """A cue that cannot be used: an error naming its line, or with skip_bad a warning."""
    text = f"{path}:{cue.line}: {msg}; fix or delete that cue"
    if not skip_bad:
        raise ClipError(f"{text} ({kept} cues before it parsed; skip_bad=True keeps them)")
    log.warning("%s (skipped)", text)


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def read_text(path: Path) -> str:
    """The file as text (UTF-8 with or without BOM; Latin-1 as a last resort)."""
    try:
        raw = Path(path).read_bytes()
    except IsADirectoryError:
        raise ClipError(f"{path}: is a directory; give the .SRT file beside the video") from None
    except OSError as exc:
        raise ClipError(f"{path}: cannot read the SRT ({exc.strerror}); check the path") from None
    if b"\x00" in raw[:4096]:
        raise ClipError(
            f"{path}: holds binary data (NUL bytes), not SubRip text; give the DJI .SRT sidecar"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, lines) of each run of non-blank lines."""
    block: list[str] = []
    first = 0
    for no, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            if not block:
                first = no
            block.append(line.strip())
        elif block:
            yield first, block
            block = []
    if block:
        yield first, block


def _timed(lines: list[str]) -> bool:
    return len(lines) > 1 and ("-->" in lines[1] or bool(_CLOCKISH.match(lines[1])))


def _continues(previous: list[str], lines: list[str]) -> bool:
    """Whether a block is the rest of the cue before it, cut by a blank line inside its payload.

    Enterprise cues do that: `...[gb_yaw ..]`, a blank line, `0`, `[ae_meter_md ..] ..</font>`.
    The evidence is the previous cue's `<font>` still open, or a lone `0` (SubRip numbers cues
    from 1); a block with a timing line always starts a cue."""
    if not _timed(previous) or _timed(lines):
        return False
    text = " ".join(previous).lower()
    return text.count("<font") > text.count("</font") or lines[0] == "0"


def _cue_blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, lines) of each cue, its continuation blocks joined to it."""
    held: tuple[int, list[str]] | None = None
    for first, lines in _blocks(text):
        if held is not None and _continues(held[1], lines):
            held[1].extend(lines)
            continue
        if held is not None:
            yield held
        held = (first, lines)
    if held is not None:
        yield held


def iter_cues(path: Path) -> Iterator[Cue]:
    """Every cue of the file in order, including unusable ones (with `problem` set)."""
    for first, lines in _cue_blocks(read_text(path)):
        if not lines[0].isdigit():
            problem = f"expected a cue number, got {lines[0][:40]!r}"
            yield Cue(first, None, None, None, "", None, problem)
            continue
        if len(lines) < 2:
            problem = "cue number without a timing line or payload"
            yield Cue(first, int(lines[0]), None, None, "", None, problem)
            continue
        body = lines[1:]
        m = _TIME.match(body[0])
        start = end = None
        if m:
            start, end = _seconds(*m.groups()[:4]), _seconds(*m.groups()[4:])
            body = body[1:]
        elif "-->" in body[0] or _CLOCKISH.match(body[0]):
            yield Cue(first, int(lines[0]), None, None, "", None, f"bad cue time line {body[0]!r}")
            continue
        joined = " ".join(body)
        font = _FONT.search(joined)
        payload = _TAG.sub(" ", joined).replace("Â°", "°").strip()
        problem = None if payload else "cue has a timing line but no payload (truncated?)"
        size = int(font.group(1)) if font else None
        yield Cue(first, int(lines[0]), start, end, payload, size, problem)
