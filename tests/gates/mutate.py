"""Edits of a real run record for the gate tests: drop, change or cut lines, keep the rest."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

Line = dict[str, Any]


def lines_of(path: Path) -> list[Line]:
    """The record's lines without its verdict (the host writes that)."""
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return [r for r in rows if r.get("kind") != "verdict"]


def write(path: Path, rows: list[Line]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def edited(src: Path, dst: Path, edit: Callable[[list[Line]], list[Line]]) -> Path:
    """A copy of `src` at `dst` with `edit` applied to its lines (verdict removed)."""
    return write(dst, edit(lines_of(src)))


def is_(stage: str, type: str | None = None) -> Callable[[Line], bool]:
    return lambda r: r.get("stage") == stage and (type is None or r.get("type") == type)
