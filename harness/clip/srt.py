"""Reader: a DJI .SRT telemetry sidecar into a position track stamped by each cue's own time.

A sample's time is its cue's start on the video timeline (1 Hz and per-frame generations
alike; frames are stamped by the video's own presentation times, never paired to cues by
index). Height comes from the height field the file carries (see srt_fields); a satellite
count or a GPS precision is never read as a height. Cues before a fix (0, 0), without a
position, or truncated at the end of the file are dropped and counted, never carried over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.clip import srt_fields as sf
from harness.clip.srt_text import Cue, iter_cues
from harness.errors import ClipError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SrtTrack:
    t_s: np.ndarray  # cue start on the video timeline [s] (or from the first date, see info)
    dur_s: np.ndarray  # cue end - start [s]; NaN without timing lines
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    alt_m: np.ndarray  # from info["altitude_field"]; NaN when the file has no height
    lines: np.ndarray  # the line each cue starts on, for error messages
    info: dict = field(default_factory=dict)
    pry_deg: np.ndarray | None = None  # drone (pitch, roll, yaw) [deg] per sample (F.PRY); None


def _bad(path: Path, cue: Cue, msg: str, skip_bad: bool, kept: int) -> None:
    text = f"{path}:{cue.line}: {msg}; fix or delete that cue"
    if not skip_bad:
        raise ClipError(f"{text} ({kept} cues before it parsed; skip_bad=True keeps them)")
    log.warning("%s (skipped)", text)


def _times(path: Path, cues: list[Cue], skip_bad: bool) -> tuple[list[Cue], np.ndarray, str]:
    """Each kept cue's time: its timing line, or (a generation without them) its date."""
    timed = [c for c in cues if c.start_s is not None]
    if timed and len(timed) < len(cues):
        first = next(c for c in cues if c.start_s is None)
        _bad(path, first, "cue has no timing line while others do", skip_bad, 0)
        cues = timed
    if timed:
        return cues, np.array([c.start_s for c in cues]), "cue-start"
    clocks = [sf.wall_clock(c.payload) for c in cues]
    kept = [(c, w) for c, w in zip(cues, clocks, strict=True) if w is not None]
    if len(kept) < len(cues):
        first = next(c for c, w in zip(cues, clocks, strict=True) if w is None)
        _bad(path, first, "cue has neither a timing line nor a date", skip_bad, 0)
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


def _height_field(found: list[dict]) -> str | None:
    """The one height field of the file: the one most cues carry (ties: HEIGHTS order).

    A file that switches fields (an edited export of two drones) gets an error at the first
    cue without it; skip_bad keeps the majority."""
    counts = {k: sum(k in h for h in found) for k in sf.HEIGHTS}
    best = max(counts.values(), default=0)
    return next((k for k in sf.HEIGHTS if counts[k] == best), None) if best else None


def parse_srt(path: Path, skip_bad: bool = False) -> SrtTrack:
    """Every usable cue with a position; a bad cue is an error naming its line (or, with
    skip_bad, a warning). An empty file gives an empty track, not an error."""
    path = Path(path)
    all_cues = list(iter_cues(path))
    cues, kept = [], 0
    for i, cue in enumerate(all_cues):
        if cue.problem and i == len(all_cues) - 1:
            log.warning("%s:%d: last cue is incomplete (%s): dropped", path, cue.line, cue.problem)
        elif cue.problem:
            _bad(path, cue, cue.problem, skip_bad, kept)
        else:
            cues.append(cue)
            kept += 1
    cues, t, time_source = _times(path, cues, skip_bad)
    rows, found, counts = [], [], {"no_position": 0, "no_fix_0_0": 0}
    forms = set()
    for cue, t_s in zip(cues, t, strict=True):
        pos = sf.position(cue.payload)
        if pos is None:
            counts["no_position"] += 1
            continue
        lat, lon, form = pos
        if lat == 0 and lon == 0:
            counts["no_fix_0_0"] += 1
            continue
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            _bad(path, cue, f"latitude {lat} / longitude {lon} out of range", skip_bad, len(rows))
            continue
        forms.add(form)
        dur = np.nan if cue.end_s is None else cue.end_s - cue.start_s
        rows.append((cue, t_s, dur, lat, lon, sf.drone_attitude(cue.payload)))
        found.append(sf.heights(cue.payload))
    alt_key = _height_field(found)
    alt = []
    for (cue, *_), h in zip(rows, found, strict=True):
        if alt_key is not None and alt_key not in h:
            other = ", ".join(h) or "none"
            msg = (
                f"cue has no {alt_key!r} height (it carries: {other}) while most cues do; the file "
                "mixes generations (an edited export?): cut it, or skip_bad keeps the "
                f"{alt_key!r} cues"
            )
            _bad(path, cue, msg, skip_bad, len(alt))
            alt.append(None)
            continue
        alt.append(np.nan if alt_key is None else h[alt_key])
    keep = [i for i, a in enumerate(alt) if a is not None]
    rows, alt = [rows[i] for i in keep], np.array([alt[i] for i in keep], dtype=np.float64)
    info = {
        "cues": len(all_cues),
        "samples": len(rows),
        "time_source": time_source,
        "position_form": sorted(forms),
        "altitude_field": alt_key,
        "altitude_datum": sf.DATUM.get(alt_key),
        **counts,
    }
    if not rows:
        return SrtTrack(*(np.zeros(0) for _ in range(5)), np.zeros(0, int), info)
    t = np.array([r[1] for r in rows])
    dur = np.array([r[2] for r in rows])
    lat = np.array([r[3] for r in rows])
    lon = np.array([r[4] for r in rows])
    lines = np.array([r[0].line for r in rows])
    pry = None
    if all(r[5] is not None for r in rows):
        pry = np.array([r[5] for r in rows], dtype=np.float64)
        info["attitude_field"] = "F.PRY (pitch, roll, yaw) [deg]"
    back = np.flatnonzero(np.diff(t) <= 0)
    if len(back):
        i = int(back[0]) + 1
        raise ClipError(
            f"{path}:{lines[i]}: cue starts at {t[i]:.3f} s, not after the previous cue "
            f"({t[i - 1]:.3f} s); the SRT clock is not monotonic: fix the cue times"
        )
    if alt_key == "altitude" and all(c.font_size == 28 for c in cues):
        alt = alt * 10.0  # DJI FPV writes `altitude` at a tenth of its value (font 28 files)
        info["altitude_scale"] = 10.0
    radians = (np.abs(lat) < np.pi / 2).all() and (np.abs(lon) < np.pi).all()
    if radians and len(lat) > 1 and np.ptp(lat) < 1e-3 and np.ptp(lon) < 1e-3:
        lat, lon = np.degrees(lat), np.degrees(lon)  # some Air 2 firmware wrote radians
        info["radians_converted"] = True
    if len(t) > 1:
        info["cue_rate_hz"] = round(float((len(t) - 1) / (t[-1] - t[0])), 4)
    med = float(np.nanmedian(dur)) if np.isfinite(dur).any() else np.nan
    info["cadence"] = "1 Hz" if med >= 0.5 else "per-frame" if np.isfinite(med) else "unknown"
    return SrtTrack(t, dur, lat, lon, alt, lines, info, pry)
