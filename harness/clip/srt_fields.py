"""Fields of one DJI SRT cue payload, for every generation DJI has shipped.

Position: `[latitude: ..] [longitude|longtitude: ..]` (per-frame generations), `GPS(lon,lat,N)`
with N a satellite count (1 Hz Mavic Pro / Phantom 4 era and the one-line style), `RTK(...)`
the same, or `GPS(lat,lon,x.xM)` (Matrice 300: latitude first, x = precision in metres).
Heights: `rel_alt`, `abs_alt`, `altitude`, `H <m>m`, `BAROMETER:<m>[M]`, `Hb:<m>`. The third
GPS value is never a height. Drone attitude: `F.PRY (pitch°, roll°, yaw°)` (P4 RTK; `G.PRY` is
the gimbal's, never read as the drone's).
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
# Heights in the order a reader prefers them; the first present in a file is used for all cues.
HEIGHTS = {
    "abs_alt": re.compile(r"\babs_alt\s*:\s*" + _NUM, re.IGNORECASE),
    "rel_alt": re.compile(r"\brel_alt\s*:\s*" + _NUM, re.IGNORECASE),
    "altitude": re.compile(r"(?<![_\w])altitude\s*:\s*" + _NUM, re.IGNORECASE),
    "BAROMETER": re.compile(r"\bBAROMETER\s*:\s*" + _NUM + r"\s*M?", re.IGNORECASE),
    "Hb": re.compile(r"\bHb\s*:\s*" + _NUM),
    "H": re.compile(r"(?<![\w.])H\s+" + _NUM + r"\s*m\b"),
}
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
_DATES = (
    (re.compile(r"\b(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,3}))?"), "-"),
    (re.compile(r"\b(\d{4})\.(\d{1,2})\.(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:,(\d{1,3}))?"), "."),
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


_FPRY = re.compile(
    r"\bF\.PRY\s*\(\s*" + _NUM + r"\s*°?\s*,\s*" + _NUM + r"\s*°?\s*,\s*" + _NUM + r"\s*°?\s*\)"
)


def drone_attitude(payload: str) -> tuple[float, float, float] | None:
    """The drone's (pitch, roll, yaw) [deg] from `F.PRY (...)`, if the cue carries it."""
    m = _FPRY.search(payload) if "f.pry" in payload.lower() else None
    return None if m is None else (float(m.group(1)), float(m.group(2)), float(m.group(3)))


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
    for pattern, _ in _DATES:
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
