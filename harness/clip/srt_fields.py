"""Fields of one DJI SRT cue payload, for every generation DJI has shipped.

Position: `[latitude: ..] [longitude|longtitude: ..]` (per-frame generations), `GPS(lon,lat,N)`
with N a satellite count (1 Hz Mavic Pro / Phantom 4 era and the one-line style), `RTK(...)`
the same, or `GPS(lat,lon,x.xM)` (Matrice 300: latitude first, x = precision in metres); a
`GPS(N/A,N/A,n)` before a fix is no position. The third GPS value is never a height.
Heights, by what they measure: above the take-off point (`rel_alt`, `BAROMETER:<m>[M]`, `Hb:<m>`,
and `H <m>m` above the home point, where it took off) and an altitude in another datum
(`abs_alt`, DJI: geodetic; `altitude`, undocumented). Attitude [deg], as (yaw, pitch, roll):
the drone's `F.PRY (pitch°, roll°, yaw°)`, `[Drone: Yaw:.., Pitch:.., Roll:..]` or
`[drone_yaw: .. drone_pitch: .. drone_roll: ..]`; the gimbal's (the camera's, never the
drone's) `G.PRY (pitch°, roll°, yaw°)` or `[gb_yaw: .. gb_pitch: .. gb_roll: ..]`. The frame
clock of per-frame generations: `FrameCnt|SrtCnt : <n>, DiffTime : <ms>ms`.
"""

from __future__ import annotations

import re
from datetime import datetime

_NUM = r"([-+]?\d+(?:\.\d+)?)"
_LAT = re.compile(r"\blatitude\s*:\s*" + _NUM, re.IGNORECASE)
_LON = re.compile(r"\blongt?itude\s*:\s*" + _NUM, re.IGNORECASE)  # DJI spells it longtitude too
_GPS = re.compile(
    r"\b(GPS|RTK)\s*\(\s*" + _NUM + r"\s*,\s*" + _NUM + r"\s*(?:,\s*" + _NUM + r"\s*([Mm]?))?\s*\)"
)
# Every height key, in the order that breaks a tie between two forms of one file.
HEIGHTS = {
    "abs_alt": re.compile(r"\babs_alt\s*:\s*" + _NUM, re.IGNORECASE),
    "rel_alt": re.compile(r"\brel_alt\s*:\s*" + _NUM, re.IGNORECASE),
    "altitude": re.compile(r"(?<![_\w])altitude\s*:\s*" + _NUM, re.IGNORECASE),
    "BAROMETER": re.compile(r"\bBAROMETER\s*:\s*" + _NUM + r"\s*M?", re.IGNORECASE),
    "Hb": re.compile(r"\bHb\s*:\s*" + _NUM),
    "H": re.compile(r"(?<![\w.])H\s+" + _NUM + r"\s*m\b"),
}
# Heights above the take-off point: what a barometer stream carries.
ABOVE_TAKEOFF = ("rel_alt", "BAROMETER", "Hb", "H")
# A substring each key's text must contain (lower case): skips the regex on most cues.
_HINT = {
    "abs_alt": "abs_alt",
    "rel_alt": "rel_alt",
    "altitude": "altitude",
    "BAROMETER": "barometer",
    "Hb": "hb",
    "H": "h ",
}
# What each height is measured from (DJI documents only some; see docs/clip.md).
DATUM = {
    "abs_alt": "absolute (DJI: geodetic)",
    "rel_alt": "take-off point",
    "altitude": "undocumented (DJI per-frame generations)",
    "BAROMETER": "take-off point (barometric)",
    "Hb": "take-off point (barometric)",
    "H": "home point",
}


def _triple(*names: str) -> str:
    return r"\s*,?\s*".join(rf"\b{n}\s*:\s*{_NUM}" for n in names)


def _pry(key: str) -> re.Pattern:
    deg = r"\s*°?\s*"
    return re.compile(rf"\b{key}\s*\(\s*{_NUM}{deg},\s*{_NUM}{deg},\s*{_NUM}{deg}\)")


# (pattern, the order its three numbers come in, the name recorded for the form)
_DRONE = (
    (_pry(r"F\.PRY"), "pry", "F.PRY (pitch, roll, yaw)"),
    (
        re.compile(r"\bDrone\s*:\s*" + _triple("Yaw", "Pitch", "Roll")),
        "ypr",
        "[Drone: Yaw Pitch Roll]",
    ),
    (
        re.compile(_triple("drone_yaw", "drone_pitch", "drone_roll")),
        "ypr",
        "[drone_yaw drone_pitch drone_roll]",
    ),
)
_CAMERA = (
    (_pry(r"G\.PRY"), "pry", "G.PRY (pitch, roll, yaw)"),
    (re.compile(_triple("gb_yaw", "gb_pitch", "gb_roll")), "ypr", "[gb_yaw gb_pitch gb_roll]"),
)
_NO_FIX = re.compile(r"\b(?:GPS|RTK)\s*\(\s*N/A", re.IGNORECASE)
_FRAME = re.compile(r"\b(?:FrameCnt|SrtCnt)\s*:\s*(\d+)\s*,\s*DiffTime\s*:\s*(\d+)\s*ms")
_DATES = (
    re.compile(r"\b(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,3}))?"),
    re.compile(r"\b(\d{4})\.(\d{1,2})\.(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:,(\d{1,3}))?"),
)


def position(payload: str) -> tuple[float, float, str] | None:
    """(lat, lon, form) of a cue, or None when it holds no position at all."""
    low = payload.lower()
    lat = _LAT.search(payload) if "latitude" in low else None
    lon = _LON.search(payload) if lat is not None else None
    if lat and lon:
        return float(lat.group(1)), float(lon.group(1)), "latitude/longitude"
    gps = _GPS.search(payload) if ("gps" in low or "rtk" in low) else None
    if gps is None:
        return None
    a, b, third, unit = float(gps.group(2)), float(gps.group(3)), gps.group(4), gps.group(5)
    if third is not None and unit == "M":  # Matrice 300: latitude first, precision in metres
        return a, b, f"{gps.group(1)}(lat,lon,precision M)"
    return b, a, f"{gps.group(1)}(lon,lat,satellites)"


def no_fix(payload: str) -> bool:
    """Whether the cue writes its position as not available (`GPS(N/A,N/A,n)`: no fix yet)."""
    return "n/a" in payload.lower() and _NO_FIX.search(payload) is not None


def _attitude(payload: str, forms) -> tuple[float, float, float, str] | None:
    for pattern, order, name in forms:
        m = pattern.search(payload)
        if m:
            a, b, c = (float(g) for g in m.groups())
            return (c, a, b, name) if order == "pry" else (a, b, c, name)
    return None


def drone_attitude(payload: str) -> tuple[float, float, float, str] | None:
    """The drone's (yaw, pitch, roll) [deg] and the form it was written in, if the cue has it."""
    low = payload.lower()
    return _attitude(payload, _DRONE) if ("pry" in low or "drone" in low) else None


def camera_attitude(payload: str) -> tuple[float, float, float, str] | None:
    """The gimbal's, i.e. the camera's, (yaw, pitch, roll) [deg] and its form, if the cue has it."""
    low = payload.lower()
    return _attitude(payload, _CAMERA) if ("g.pry" in low or "gb_" in low) else None


def frame_clock(payload: str) -> tuple[int, int] | None:
    """(frame counter, DiffTime [ms]) of a per-frame cue, if it carries them."""
    m = _FRAME.search(payload) if "difftime" in payload.lower() else None
    return None if m is None else (int(m.group(1)), int(m.group(2)))


def heights(payload: str) -> dict[str, float]:
    """Every height field the cue carries, by DJI's key."""
    out = {}
    low = payload.lower()
    for key, pattern in HEIGHTS.items():
        m = pattern.search(payload) if _HINT[key] in low else None
        if m:
            out[key] = float(m.group(1))
    return out


def wall_clock(payload: str) -> datetime | None:
    """The cue's embedded date and time (naive: DJI records no time zone), if it has one."""
    for pattern in _DATES:
        m = pattern.search(payload)
        if m:
            y, mo, d, h, mi, s, ms = m.groups()
            try:
                return datetime(
                    int(y),
                    int(mo),
                    int(d),
                    int(h),
                    int(mi),
                    int(s),
                    int((ms or "0").ljust(3, "0")) * 1000,
                )
            except ValueError:
                return None
    return None
