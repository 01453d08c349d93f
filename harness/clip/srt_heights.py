"""Which of a DJI SRT's heights becomes truth's altitude, the origin's level and the baro stream.

A file carries up to two heights (see srt_fields): one above the take-off point (`rel_alt`,
`BAROMETER`, `Hb`, `H`: a barometer's reading, what the bundle's baro stream carries) and an
altitude in another datum (`abs_alt`, `altitude`: what truth's altitude is, its datum named).
Truth is the altitude when the file has one, else the height above take-off; the origin's level
is the take-off point whenever the file says where that is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.clip.srt import SrtTrack
from harness.errors import ClipError


@dataclass(frozen=True)
class Heights:
    up_m: np.ndarray  # truth's altitude [m], in the datum origin_alt_m is in
    origin_alt_m: float
    baro_m: np.ndarray  # height above the take-off point [m]; NaN where the file has none
    truth_note: str
    baro_note: str


def _no_track(srt: Path, info: dict) -> ClipError:
    why = (
        "no cue carries a position (this generation writes none, e.g. the 2018 Mavic Air)"
        if info.get("no_position")
        else "no cue before a GPS fix was usable"
        if info.get("no_fix_0_0") or info.get("no_fix_na")
        else "no cues at all (empty or truncated file)"
    )
    return ClipError(
        f"{srt}: {why}: {info.get('cues', 0)} cues, 0 samples with a position; "
        "a clip needs a position track: give the SRT of a flight recorded with GPS"
    )


def heights(track: SrtTrack, srt: Path, assume_alt_m: float | None) -> Heights:
    """Truth altitude, origin level and baro height of a track; refused without a position,
    or without any height unless `assume_alt_m` is given."""
    info = track.info
    if not len(track.t_s):
        raise _no_track(srt, info)
    above, other = info["height_field"], info["altitude_field"]
    n = len(track.t_s)
    if above is not None:
        baro = track.height_m.copy()
        baro_note = f"{above} (height above the take-off point, {info['height_datum']})"
    else:
        baro = np.full(n, np.nan)
        baro_note = "NaN: this SRT writes no height above the take-off point" + (
            f" (only {other!r}, datum {info['altitude_datum']})" if other else ""
        )
    if other is not None:
        up = track.alt_m
        if above is not None:
            origin = float(up[0] - baro[0])
            where = f"the take-off level: first {other} minus first {above}"
        else:
            origin = float(up[0])
            where = f"the first fix's {other} (the file does not say where it took off)"
        truth = f"altitude from {other} (datum {info['altitude_datum']}); origin at {where}"
        return Heights(up, origin, baro, truth, baro_note)
    if above is not None:
        truth = f"altitude from {above} (above the take-off point); origin at take-off level"
        return Heights(baro.copy(), 0.0, baro, truth, baro_note)
    if assume_alt_m is None:
        raise ClipError(
            f"{srt}: no cue carries a height (rel_alt, abs_alt, altitude, H, BAROMETER, Hb); "
            "pass assume_alt_m (--assume-alt-m M) to take a constant height"
        )
    up = np.full(n, float(assume_alt_m))
    baro_note = "no height field in the SRT (assumed constant): NaN"
    return Heights(up, float(assume_alt_m), baro, f"assumed constant {assume_alt_m} m", baro_note)
