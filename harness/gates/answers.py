"""The answers the harness asked for: the query frames the driver recorded (`vpr/expected`)
before the stack ran, matched with what the stack wrote. Each frame counts once, with the
first answer that names it; a frame left unanswered counts too, so the stack cannot choose
the denominator of its own figures."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.gates.fields import Malformed
from harness.record import Record


@dataclass(frozen=True)
class Expected:
    frames: list[int]
    t_s: np.ndarray

    @classmethod
    def of(cls, record: Record) -> Expected | None:
        """The recorded expectation, or None for a stack that makes no queries (or a record
        from before the driver wrote it)."""
        events = list(record.select("vpr", "expected"))
        if not events:
            return None
        if len(events) > 1:
            raise Malformed(
                f"{record.where(events[1])}: a second vpr/expected line; only the run driver "
                "writes it, once"
            )
        ev = events[0]
        frames, t_s = ev.get("frames"), ev.get("t_s")
        if (
            not isinstance(frames, list)
            or not isinstance(t_s, list)
            or len(frames) != len(t_s)
            or not all(isinstance(f, int) and not isinstance(f, bool) for f in frames)
            or not all(
                isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t)
                for t in t_s
            )
        ):
            raise Malformed(
                f"{record.where(ev)}: vpr/expected needs 'frames' (integers) and 't_s' "
                "(finite numbers) of equal length"
            )
        return cls(frames, np.asarray(t_s, dtype=float))

    def answers(self, events: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        """For each expected frame, the first event that answers it (by its `frame`, or by
        its time for an in-process stage's event without one); None where none does."""
        by_frame: dict[int, dict[str, Any]] = {}
        by_time: list[tuple[float, dict[str, Any]]] = []
        for ev in events:
            frame, t = ev.get("frame"), ev.get("t_s")
            if isinstance(frame, int) and not isinstance(frame, bool):
                by_frame.setdefault(frame, ev)
            elif isinstance(t, (int, float)) and not isinstance(t, bool):
                by_time.append((float(t), ev))
        out = []
        for frame, t in zip(self.frames, self.t_s, strict=True):
            found = by_frame.get(frame)
            if found is None:
                found = next((ev for s, ev in by_time if abs(s - t) <= 1e-6), None)
            out.append(found)
        return out
