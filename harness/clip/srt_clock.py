"""The clocks of a DJI .SRT: each cue's time, and the frame counter it is checked against.

The cue's timing line is the video timeline and is what a sample is stamped with. One
generation writes no timing lines: its cues are clocked by cue number at 1 Hz, checked against
their dates. Per-frame generations also write `FrameCnt|SrtCnt : n, DiffTime : ms`; that frame
clock is recorded beside the cue clock, never used for time: its counter skips and restarts
(videos assembled from several recordings) and a cue can span two frames while DiffTime says one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.clip import srt_fields as sf
from harness.clip.srt_text import Cue, bad_cue
from harness.errors import ClipError


def cue_times(path: Path, cues: list[Cue], skip_bad: bool) -> tuple[list[Cue], np.ndarray, str]:
    """Each kept cue's time: its timing line, or (a generation without them) its date."""
    timed = [c for c in cues if c.start_s is not None]
    if timed and len(timed) < len(cues):
        first = next(c for c in cues if c.start_s is None)
        bad_cue(path, first, "cue has no timing line while others do", skip_bad, 0)
        cues = timed
    if timed:
        return cues, np.array([c.start_s for c in cues]), "cue-start"
    clocks = [sf.wall_clock(c.payload) for c in cues]
    kept = [(c, w) for c, w in zip(cues, clocks, strict=True) if w is not None]
    if len(kept) < len(cues):
        first = next(c for c, w in zip(cues, clocks, strict=True) if w is None)
        bad_cue(path, first, "cue has neither a timing line nor a date", skip_bad, 0)
    if not kept:
        return [], np.zeros(0), "none"
    # This generation writes one cue a second; its whole-second dates repeat or skip a second
    # now and then, so the cue number is the clock and the dates must agree with it (+-1.5 s).
    number = np.array([c.number for c, _ in kept], dtype=np.float64)
    t = number - number[0]
    dates = np.array([(w - kept[0][1]).total_seconds() for _, w in kept])
    off = np.flatnonzero(np.abs(dates - t) > 1.5)
    if len(off):
        cue = kept[int(off[0])][0]
        raise ClipError(
            f"{path}:{cue.line}: cue {cue.number} has no timing line and its date is "
            f"{dates[off[0]]:.1f} s after the first cue's, not about {t[off[0]]:.0f} s (1 Hz): "
            "the cue numbers are not a clock here; cut the file where the recording restarts"
        )
    return [c for c, _ in kept], t, "cue number at 1 Hz (no timing lines; dates agree +-1.5 s)"


def frame_clock_summary(cues: list[Cue], t: np.ndarray) -> dict:
    """How the file's FrameCnt/DiffTime clock compares with its cue times (empty without one)."""
    clock = [sf.frame_clock(c.payload) for c in cues]
    if not clock or any(c is None for c in clock):
        return {}
    count = np.array([c[0] for c in clock])
    diff_ms = np.array([c[1] for c in clock], dtype=np.float64)
    step = np.diff(count)
    cue_ms = np.diff(t) * 1000.0
    off = np.abs(cue_ms - diff_ms[1:]) if len(t) > 1 else np.zeros(0)
    period = float(np.median(diff_ms))
    return {
        "frame_clock": {
            "counter_first": int(count[0]),
            "counter_skips": int(np.sum(step > 1)),
            "counter_restarts": int(np.sum(step <= 0)),
            "difftime_median_ms": period,
            "cue_vs_difftime_max_ms": round(float(off.max()), 3) if len(off) else 0.0,
            "cues_longer_than_difftime": int(np.sum(off > period / 2)),
            "used_for_time": False,
        }
    }
