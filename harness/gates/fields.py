"""Typed reads of run-record fields: a missing or mistyped field is a located `Malformed` error.

Gates read what any stack wrote, so nothing is trusted: a number must be a number (not a
bool, string or list), a vector must have its length. `null` is NaN where the contract lets
a value be non-finite (the record writes NaN and inf as null); the gate then judges it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from harness.record import Record

QUOTE_CHARS = 60


class Malformed(Exception):
    """A record line lacks a field a gate needs, or holds the wrong type there."""


def _quote(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 3] + "..."


def _where(record: Record, ev: dict[str, Any], key: str, line: dict[str, Any] | None) -> str:
    line = ev if line is None else line
    return f"{record.where(line)}: {line.get('stage')}/{line.get('type')} field {key!r}"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def number(record: Record, ev: dict[str, Any], key: str, *, null_ok: bool = False) -> float:
    """`ev[key]` as a finite float. Only with `null_ok` may it be null (NaN) or non-finite,
    for the gate to judge: a time or a count that is not finite is a located Malformed."""
    if key not in ev:
        raise Malformed(f"{_where(record, ev, key, None)} is missing")
    v = ev[key]
    if v is None and null_ok:
        return math.nan
    if not _is_number(v):
        raise Malformed(f"{_where(record, ev, key, None)} is {_quote(v)}, not a number")
    if not null_ok and not math.isfinite(v):
        raise Malformed(f"{_where(record, ev, key, None)} is {v}, not a finite number")
    return float(v)


def array(
    record: Record,
    ev: dict[str, Any],
    key: str,
    shape: tuple[int, ...],
    line: dict[str, Any] | None = None,
) -> np.ndarray:
    """`ev[key]` as a float array of `shape`; null entries (or a null whole) are NaN.

    `line` is the record line `ev` sits in when `ev` is nested (a top-k entry of a query).
    """
    if key not in ev:
        raise Malformed(f"{_where(record, ev, key, line)} is missing")
    v = ev[key]
    if v is None:
        return np.full(shape, np.nan)

    def walk(x: Any, dims: tuple[int, ...]) -> list:
        if not dims:
            if x is None:
                return math.nan
            if not _is_number(x):
                raise Malformed(f"{_where(record, ev, key, line)} holds {_quote(x)}, not a number")
            return float(x)
        if not isinstance(x, list) or len(x) != dims[0]:
            raise Malformed(
                f"{_where(record, ev, key, line)} is {_quote(x)}, not a list of {dims[0]} "
                f"(expected shape {list(shape)})"
            )
        return [walk(e, dims[1:]) for e in x]

    return np.array(walk(v, shape), dtype=float)


def flag(record: Record, ev: dict[str, Any], key: str) -> bool:
    """`ev[key]` as a bool (true/false only)."""
    v = ev.get(key)
    if not isinstance(v, bool):
        raise Malformed(f"{_where(record, ev, key, None)} is {_quote(v)}, not true or false")
    return v


def text(ev: dict[str, Any], key: str, default: str = "?") -> str:
    """`ev[key]` for a message: any value, shortened; `default` when absent."""
    v = ev.get(key, default)
    return v if isinstance(v, str) and len(v) <= 500 else _quote(v)
