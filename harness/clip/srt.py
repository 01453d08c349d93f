"""Reader: a DJI .SRT telemetry sidecar into a position track stamped by each cue's own time.

A sample's time is its cue's start on the video timeline (1 Hz and per-frame generations
alike; frames are stamped by the video's own presentation times, never paired to cues by
index). Heights are read by what they measure (see srt_fields): the height above the take-off
point (a barometer's reading) and an altitude in another datum, each from the one field the
file carries; a satellite count or a GPS precision is never read as a height. Cues before a
fix (`(0, 0)`, `N/A`), without a position, or truncated at the end of the file are dropped and
counted, never carried over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.clip import srt_fields as sf
from harness.clip.srt_clock import cue_times, frame_clock_summary
from harness.clip.srt_text import Cue, bad_cue, iter_cues
from harness.errors import ClipError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SrtTrack:
    t_s: np.ndarray  # cue start on the video timeline [s] (or from the first date, see info)
    dur_s: np.ndarray  # cue end - start [s]; NaN without timing lines
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    height_m: np.ndarray  # above the take-off point (info["height_field"]); NaN without one
    alt_m: np.ndarray  # in info["altitude_datum"] (info["altitude_field"]); NaN without one
    lines: np.ndarray  # the line each cue starts on, for error messages
    info: dict = field(default_factory=dict)
    drone_ypr_deg: np.ndarray | None = None  # (yaw, pitch, roll) of the drone; NaN rows: none
    camera_ypr_deg: np.ndarray | None = None  # the gimbal's, i.e. the camera's; never the drone's


def _form(h: dict[str, float]) -> tuple[str | None, str | None]:
    """The cue's (height above take-off, altitude) keys, the first of each in HEIGHTS order."""
    above = next((k for k in sf.HEIGHTS if k in h and k in sf.ABOVE_TAKEOFF), None)
    other = next((k for k in sf.HEIGHTS if k in h and k not in sf.ABOVE_TAKEOFF), None)
    return above, other


def _file_form(found: list[dict]) -> tuple[str | None, str | None]:
    """The height form most cues carry (ties: the HEIGHTS order of its fields).

    A file whose cues switch forms (an edited export of two drones) gets an error at the
    first cue of another form; skip_bad keeps the majority."""
    forms = [_form(h) for h in found]
    if not forms:
        return None, None
    rank = list(sf.HEIGHTS)

    def key(f):
        return (-forms.count(f), min((rank.index(k) for k in f if k), default=len(rank)))

    return min(set(forms), key=key)


def _usable_cues(path: Path, skip_bad: bool) -> tuple[list[Cue], int]:
    all_cues = list(iter_cues(path))
    cues = []
    for i, cue in enumerate(all_cues):
        if cue.problem and i == len(all_cues) - 1:
            log.warning("%s:%d: last cue is incomplete (%s): dropped", path, cue.line, cue.problem)
        elif cue.problem:
            bad_cue(path, cue, cue.problem, skip_bad, len(cues))
        else:
            cues.append(cue)
    return cues, len(all_cues)


def _column(values: list, n: int) -> tuple[np.ndarray | None, str | None]:
    """(N, 3) angles with NaN rows where a cue has none, and the forms seen; None when none."""
    if all(v is None for v in values):
        return None, None
    out = np.full((n, 3), np.nan)
    for i, v in enumerate(values):
        if v is not None:
            out[i] = v[:3]
    return out, ", ".join(sorted({v[3] for v in values if v is not None}))


def parse_srt(path: Path, skip_bad: bool = False) -> SrtTrack:
    """Every usable cue with a position; a bad cue is an error naming its line (or, with
    skip_bad, a warning). An empty file gives an empty track, not an error."""
    path = Path(path)
    cues, n_cues = _usable_cues(path, skip_bad)
    cues, t, time_source = cue_times(path, cues, skip_bad)
    rows, forms = [], set()
    counts = {"no_position": 0, "no_fix_0_0": 0, "no_fix_na": 0}
    for cue, t_s in zip(cues, t, strict=True):
        pos = sf.position(cue.payload)
        if pos is None:
            counts["no_fix_na" if sf.no_fix(cue.payload) else "no_position"] += 1
            continue
        lat, lon, form = pos
        if lat == 0 and lon == 0:
            counts["no_fix_0_0"] += 1
            continue
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            bad_cue(
                path, cue, f"latitude {lat} / longitude {lon} out of range", skip_bad, len(rows)
            )
            continue
        forms.add(form)
        rows.append((cue, t_s, lat, lon, sf.heights(cue.payload)))
    above, other = _file_form([r[4] for r in rows])
    kept = []
    for row in rows:
        if _form(row[4]) != (above, other):
            carried = ", ".join(row[4]) or "none"
            wanted = " and ".join(repr(k) for k in (above, other) if k) or "no height"
            msg = (
                f"cue carries heights: {carried}, not {wanted} like most cues; the file mixes "
                "generations (an edited export?): cut it, or skip_bad keeps the majority"
            )
            bad_cue(path, row[0], msg, skip_bad, len(kept))
            continue
        kept.append(row)
    info = {
        "cues": n_cues,
        "samples": len(kept),
        "time_source": time_source,
        "position_form": sorted(forms),
        "height_field": above,
        "height_datum": sf.DATUM.get(above),
        "altitude_field": other,
        "altitude_datum": sf.DATUM.get(other),
        **counts,
    }
    return _track(path, kept, info)


def _track(path: Path, rows: list, info: dict) -> SrtTrack:
    if not rows:
        empty = np.zeros(0)
        return SrtTrack(empty, empty, empty, empty, empty, empty, np.zeros(0, int), info)
    cues = [r[0] for r in rows]
    t = np.array([r[1] for r in rows])
    lines = np.array([c.line for c in cues])
    back = np.flatnonzero(np.diff(t) <= 0)
    if len(back):
        i = int(back[0]) + 1
        raise ClipError(
            f"{path}:{lines[i]}: cue starts at {t[i]:.3f} s, not after the previous cue "
            f"({t[i - 1]:.3f} s); the SRT clock is not monotonic: fix the cue times"
        )
    dur = np.array([np.nan if c.end_s is None else c.end_s - c.start_s for c in cues])
    lat, lon = np.array([r[2] for r in rows]), np.array([r[3] for r in rows])
    height = np.array([r[4].get(info["height_field"], np.nan) for r in rows])
    alt = np.array([r[4].get(info["altitude_field"], np.nan) for r in rows])
    if info["altitude_field"] == "altitude" and all(c.font_size == 28 for c in cues):
        alt = alt * 10.0  # DJI FPV writes `altitude` at a tenth of its value (font 28 files)
        info["altitude_scale"] = 10.0
    radians = (np.abs(lat) < np.pi / 2).all() and (np.abs(lon) < np.pi).all()
    if radians and len(lat) > 1 and np.ptp(lat) < 1e-3 and np.ptp(lon) < 1e-3:
        lat, lon = np.degrees(lat), np.degrees(lon)  # some Air 2 firmware wrote radians
        info["radians_converted"] = True
    drone, info["attitude_field"] = _column([sf.drone_attitude(c.payload) for c in cues], len(t))
    camera, info["camera_attitude_field"] = _column(
        [sf.camera_attitude(c.payload) for c in cues], len(t)
    )
    if len(t) > 1:
        info["cue_rate_hz"] = round(float((len(t) - 1) / (t[-1] - t[0])), 4)
    med = float(np.nanmedian(dur)) if np.isfinite(dur).any() else np.nan
    info["cadence"] = "1 Hz" if med >= 0.5 else "per-frame" if np.isfinite(med) else "unknown"
    info.update(frame_clock_summary(cues, t))
    return SrtTrack(t, dur, lat, lon, height, alt, lines, info, drone, camera)
