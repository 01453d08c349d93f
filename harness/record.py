"""The run record: a JSONL stream (condition line, event lines, end line, verdict line).

Each line is written with one `write` and flushed, so a killed writer leaves at most one
torn final line; the reader drops it and says so. The run driver ends a finished run with an
`end` line; the host classifies the record once, after the runner has added what it
collected (device telemetry), and appends the verdict line, which alone decides the run.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from harness import atomic
from harness.errors import RecordError

RECORD_NAME = "record.jsonl"


def json_ready(value: Any) -> Any:
    """JSON-ready copy: numpy to lists/scalars, NaN and inf to None."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    np = sys.modules.get("numpy")  # a numpy value exists only once numpy is loaded
    if np is not None and isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if np is not None and isinstance(value, np.generic):
        return json_ready(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


class RecordWriter:
    """Streams one run record; usable as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] = path.open("w", encoding="utf-8")
        self._has_condition = False

    def _write(self, obj: dict[str, Any]) -> None:
        self._fh.write(json.dumps(json_ready(obj), allow_nan=False, separators=(",", ":")) + "\n")
        self._fh.flush()

    def condition(
        self, scenario: dict[str, Any], config: dict[str, Any], provenance: dict[str, Any]
    ) -> None:
        if self._has_condition:
            raise RecordError(f"{self.path}: the condition line was already written")
        self._has_condition = True
        self._write(
            {"kind": "condition", "scenario": scenario, "config": config, "provenance": provenance}
        )

    def event(self, stage: str, type: str, **fields: Any) -> None:
        self._write({"kind": "event", "stage": stage, "type": type, **fields})

    def end(self) -> None:
        """The run driver finished: every event the run will write is in the record."""
        self._write({"kind": "end"})

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Record:
    """A parsed run record. `problems` lists lines that could not be read (torn or garbage)."""

    path: Path
    condition: dict[str, Any] | None
    events: list[dict[str, Any]]
    verdict: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)
    ended: bool = False  # the run driver wrote its end line
    lines: dict[int, int] = field(default_factory=dict, repr=False)  # id(event) -> line

    def where(self, event: dict[str, Any]) -> str:
        """`path:line` of an event, for reasons that point at the offending line."""
        return f"{self.path}:{self.lines.get(id(event), '?')}"

    def _block(self, key: str) -> dict[str, Any]:
        value = (self.condition or {}).get(key)
        return value if isinstance(value, dict) else {}

    @property
    def scenario(self) -> dict[str, Any]:
        return self._block("scenario")

    @property
    def config(self) -> dict[str, Any]:
        return self._block("config")

    @property
    def provenance(self) -> dict[str, Any]:
        """The condition line's provenance, its `artifacts` followed by those the stack
        declared after that line was written (`provenance/artifact` events: an engine built
        at the first query, with its parity figures)."""
        block = self._block("provenance")
        late = [
            ev["artifact"]
            for ev in self.select("provenance", "artifact")
            if isinstance(ev.get("artifact"), dict)
        ]
        if not late:
            return block
        listed = block.get("artifacts")
        return {**block, "artifacts": [*(listed if isinstance(listed, list) else []), *late]}

    def select(self, stage: str, type: str | None = None) -> Iterator[dict[str, Any]]:
        """Events of one stage (and type), in record order."""
        for ev in self.events:
            if ev.get("stage") == stage and (type is None or ev.get("type") == type):
                yield ev


def read_record(path: Path) -> Record:
    """Parse a record; a missing file is a RecordError, torn lines are kept as problems."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise RecordError(f"{path}: cannot read the run record ({exc.strerror})") from None
    condition: dict[str, Any] | None = None
    verdict: dict[str, Any] | None = None
    events: list[dict[str, Any]] = []
    problems: list[str] = []
    where: dict[int, int] = {}
    ended = False
    lines = text.split("\n")
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        torn = lineno == len(lines)  # the last chunk had no newline: a writer died mid-line
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            what = "torn final line" if torn else f"unreadable line ({exc.msg})"
            problems.append(f"{path}:{lineno}: {what}")
            continue
        kind = obj.get("kind") if isinstance(obj, dict) else None
        if kind == "condition" and condition is None and not events:
            condition = obj
        elif kind == "event" and not ended:
            events.append(obj)
            where[id(obj)] = lineno
        elif kind == "end" and not ended:
            ended = True
        elif kind == "verdict":
            verdict = obj
        else:
            what = "after the end line" if ended and kind in ("event", "end") else "unexpected"
            problems.append(f"{path}:{lineno}: {what}: a line of kind {kind!r}")
        if verdict is not None and kind != "verdict":
            verdict = None  # anything after a verdict means the verdict was not the last line
            problems.append(f"{path}:{lineno}: a line follows the verdict")
    return Record(path, condition, events, verdict, problems, ended, where)


def append_verdict(path: Path, verdict: dict[str, Any]) -> None:
    """Make `verdict` the record's last line, replacing a verdict line already there.

    The record is rewritten atomically (harness.atomic), so a reader sees the old record or
    the new one, never half of either.
    """
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    kept = [ln for ln in text.split("\n") if ln.strip() and line_kind(ln) != "verdict"]
    line = json.dumps(
        json_ready({"kind": "verdict", **verdict}), allow_nan=False, separators=(",", ":")
    )
    atomic.write_text(path, "\n".join([*kept, line]) + "\n")


def line_kind(line: str) -> str | None:
    """The `kind` of one record line (condition, event, end, verdict); None if unreadable."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    return obj.get("kind") if isinstance(obj, dict) else None
