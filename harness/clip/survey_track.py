"""A survey flight's inputs: the GPS track (CSV) and each image's camera-clock time (EXIF).

The track is a CSV with a UTC time column and latitude, longitude and altitude columns (names
found from common spellings, or given). Image times come from EXIF `DateTimeOriginal` (plus
`SubSecTimeOriginal` when written). Cameras on an interval timer often write whole seconds
only; when the stamps fit one regular period, each image's time is that fit (the stamps are
its floor), which recovers the sub-second phase the rounding hid.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import ClipError

TIME_NAMES = ("utc_usec", "time_utc_usec", "utc_us", "utc_ms", "utc_s", "time_utc_s", "utc")
LAT_NAMES = ("lat", "latitude", "lat_deg", "latitude_deg")
LON_NAMES = ("lon", "lng", "longitude", "lon_deg", "longitude_deg")
ALT_NAMES = ("alt_msl", "altitude_msl_m", "alt", "alt_m", "altitude", "altitude_m")
IMAGE_SUFFIXES = (".jpg", ".jpeg")
PERIOD_FIT_MIN = 0.9  # the share of whole-second stamps a regular period must reproduce


@dataclass(frozen=True)
class GpsTrack:
    """UTC seconds, WGS84 degrees and altitude [m] of each fix, in time order."""

    utc_s: np.ndarray
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    alt_m: np.ndarray
    columns: dict[str, str]


def _column(header: list[str], wanted: str | None, names: tuple[str, ...], path: Path) -> str:
    if wanted is not None:
        if wanted not in header:
            raise ClipError(f"{path}: no column {wanted!r} (columns: {', '.join(header)})")
        return wanted
    found = next((n for n in names if n in header), None)
    if found is None:
        raise ClipError(
            f"{path}: none of the columns {', '.join(names)} is present (columns: "
            f"{', '.join(header)}); name the column with the reader's `*_column` option"
        )
    return found


def _time_scale(name: str) -> float:
    if name.endswith(("usec", "_us")):
        return 1e-6
    return 1e-3 if name.endswith("_ms") else 1.0


def read_track(path: Path, columns: dict[str, str | None] | None = None) -> GpsTrack:
    """The track CSV; `columns` may name the time/lat/lon/alt columns. Rows with a
    non-number are refused naming the line; repeated times are dropped (the first kept)."""
    columns = columns or {}
    try:
        with Path(path).open(newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise ClipError(f"{path}: cannot read the GPS track ({exc}); give a CSV file") from None
    if len(rows) < 3:
        raise ClipError(f"{path}: {max(len(rows) - 1, 0)} fixes; a track needs at least 2")
    header = [h.strip() for h in rows[0]]
    picked = {
        key: _column(header, columns.get(key), names, path)
        for key, names in (
            ("time", TIME_NAMES),
            ("lat", LAT_NAMES),
            ("lon", LON_NAMES),
            ("alt", ALT_NAMES),
        )
    }
    idx = [header.index(picked[k]) for k in ("time", "lat", "lon", "alt")]
    table = np.empty((len(rows) - 1, 4))
    for n, row in enumerate(rows[1:]):
        try:
            table[n] = [float(row[i]) for i in idx]
        except (ValueError, IndexError):
            raise ClipError(
                f"{path}:{n + 2}: not a number in {[picked[k] for k in picked]} ({row!r}); "
                "fix or delete the line"
            ) from None
    table[:, 0] *= _time_scale(picked["time"])
    if not np.isfinite(table).all():
        bad = int(np.flatnonzero(~np.isfinite(table).all(axis=1))[0])
        raise ClipError(f"{path}:{bad + 2}: NaN or inf in a fix; delete the line")
    order = np.argsort(table[:, 0], kind="stable")
    table = table[order]
    keep = np.concatenate([[True], np.diff(table[:, 0]) > 0])
    table = table[keep]
    return GpsTrack(table[:, 0], table[:, 1], table[:, 2], table[:, 3], picked)


def list_images(folder: Path) -> list[Path]:
    if not Path(folder).is_dir():
        raise ClipError(f"{folder}: not a folder of images; give the folder the camera wrote")
    found = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(found) < 2:
        raise ClipError(f"{folder}: {len(found)} JPEG images; a survey clip needs at least 2")
    return found


def exif_time(path: Path, utc_offset_s: float = 0.0) -> float | None:
    """UTC seconds of the image's DateTimeOriginal (+ SubSecTimeOriginal); None without one.
    `utc_offset_s`: what to subtract when the camera clock runs on local time."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            exif = im.getexif().get_ifd(0x8769)  # the Exif IFD
    except OSError as exc:
        raise ClipError(f"{path}: not a readable JPEG ({exc})") from None
    stamp, sub = exif.get(36867), exif.get(37521)  # DateTimeOriginal, SubSecTimeOriginal
    if not isinstance(stamp, str):
        return None
    try:
        when = dt.datetime.strptime(stamp.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    t = when.replace(tzinfo=dt.UTC).timestamp() - utc_offset_s
    if isinstance(sub, str) and sub.strip("\x00 ").isdigit():
        t += float("0." + sub.strip("\x00 "))
    return t


def shot_numbers(paths: list[Path]) -> np.ndarray:
    """Each image's shot number: the digits ending its name (IMG_0042.jpg -> 42) when every
    name has them and they increase, so a folder with images taken out keeps the gaps in
    the camera's timer sequence; else the position in the folder."""
    import re

    found = [re.search(r"(\d+)$", p.stem) for p in paths]
    if all(found):
        numbers = np.array([int(m.group(1)) for m in found], dtype=float)
        if np.all(np.diff(numbers) > 0):
            return numbers
    return np.arange(len(paths), dtype=float)


@dataclass(frozen=True)
class CameraClock:
    """Each kept image's camera-clock time [UTC s] and how it was obtained."""

    t_s: np.ndarray
    method: str
    period_s: float | None
    agreement: float | None  # share of stamps the regular period reproduces


def fit_period(index: np.ndarray, stamps: np.ndarray) -> tuple[float, float, float]:
    """(start, period, agreement): the regular clock t_k = start + period * index_k whose floor
    reproduces the most whole-second stamps."""
    span = float(stamps[-1] - stamps[0])
    steps = float(index[-1] - index[0])
    rough = span / steps if steps else 1.0
    best = (0.0, rough, -1.0)
    for period in rough + np.linspace(-0.02, 0.02, 401) * rough:
        base = stamps[0] + period * (index - index[0])
        for phase in np.linspace(0.0, 1.0, 100, endpoint=False):
            share = float(np.mean(np.floor(base + phase + 1e-9) == stamps))
            if share > best[2]:
                best = (float(stamps[0] - period * index[0] + phase), float(period), share)
    return best


def camera_clock(index: np.ndarray, stamps: np.ndarray) -> CameraClock:
    """Sub-second stamps as they are; whole-second stamps from one regular period when it
    reproduces at least PERIOD_FIT_MIN of them, else the middle of each stamped second."""
    if np.any(stamps != np.floor(stamps)) or len(stamps) < 4:
        return CameraClock(stamps.astype(float), "exif", None, None)
    start, period, share = fit_period(index, stamps)
    if share >= PERIOD_FIT_MIN:
        return CameraClock(
            start + period * index, "exif-whole-seconds+regular-period", period, share
        )
    return CameraClock(stamps + 0.5, "exif-whole-seconds+half-second", None, share)
