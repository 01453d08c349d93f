"""Reader: an mp4 plus its DJI .SRT telemetry sidecar (one cue per frame) into a clip bundle.

Each cue's start time stamps its frame; latitude, longitude and altitude (abs_alt, else
altitude, else rel_alt) become position truth. DJI SRT carries no attitude and no IMU: the
bundle's truth has NaN quaternions and its IMU stream is absent (manifest says so).
"""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.clip.bundle import write_bundle
from harness.clip.geo import geodetic_to_ned
from harness.clip.manifest import nadir_camera, new_manifest
from harness.clip.video import probe
from harness.errors import ClipError

log = logging.getLogger(__name__)
_TIME = re.compile(r"^(\d+):(\d\d):(\d\d)[,.](\d{1,3})\s*-->\s*(\d+):(\d\d):(\d\d)[,.](\d{1,3})")
_FIELDS = {
    "lat": re.compile(r"latitude\s*:\s*(-?\d+(?:\.\d+)?)"),
    "lon": re.compile(r"longitude\s*:\s*(-?\d+(?:\.\d+)?)"),
    "abs_alt": re.compile(r"abs_alt\s*:\s*(-?\d+(?:\.\d+)?)"),
    "altitude": re.compile(r"(?<!_)altitude\s*:\s*(-?\d+(?:\.\d+)?)"),
    "rel_alt": re.compile(r"rel_alt\s*:\s*(-?\d+(?:\.\d+)?)"),
}
_OLD_GPS = re.compile(
    r"GPS\s*\(\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\)"
)  # lon, lat, alt


@dataclass(frozen=True)
class SrtTrack:
    t_s: np.ndarray  # cue start, from the first cue
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    alt_m: np.ndarray
    lines: np.ndarray  # the line each cue starts on, for error messages


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def parse_srt(path: Path, skip_bad: bool = False) -> SrtTrack:
    """Parse every cue; a bad cue is an error naming its line (or, with skip_bad, a warning)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig", errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise ClipError(
            f"{path}: cannot read the SRT ({exc}); is it a DJI .SRT text file?"
        ) from None
    rows, line_no = [], 1
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        start_line, line_no = line_no, line_no + block.count("\n") + 2
        lines = block.strip("\n").split("\n")
        if not block.strip():
            continue
        try:
            rows.append((*_parse_cue(lines), start_line))
        except ValueError as exc:
            msg = f"{path}:{start_line}: {exc}; fix or delete that cue"
            if not skip_bad:
                raise ClipError(
                    msg + f" ({len(rows)} cues before it parsed; skip_bad=True keeps them)"
                ) from None
            log.warning("%s (skipped)", msg)
    if not rows:
        raise ClipError(
            f"{path}: no telemetry cues found; is this a DJI .SRT with latitude/longitude fields?"
        )
    tab = np.array(rows, dtype=np.float64)
    bad = np.flatnonzero(np.diff(tab[:, 0]) <= 0)
    if len(bad):
        i = int(bad[0]) + 1
        raise ClipError(
            f"{path}:{int(tab[i, 4])}: cue starts at {tab[i, 0]:.3f} s, not after the previous cue "
            f"({tab[i - 1, 0]:.3f} s); the SRT clock is not monotonic: fix the cue times"
        )
    return SrtTrack(tab[:, 0] - tab[0, 0], tab[:, 1], tab[:, 2], tab[:, 3], tab[:, 4].astype(int))


def _parse_cue(lines: list[str]) -> tuple[float, float, float, float]:
    if len(lines) < 3 or not lines[0].strip().isdigit():
        raise ValueError(
            f"expected 'index', 'start --> end' and telemetry lines, got {lines[:2]!r}"
        )
    m = _TIME.match(lines[1].strip())
    if not m:
        raise ValueError(f"bad cue time line {lines[1]!r}")
    body = " ".join(lines[2:])
    values = {k: float(r.search(body).group(1)) for k, r in _FIELDS.items() if r.search(body)}
    if "lat" not in values and (old := _OLD_GPS.search(body)):
        values.update(
            lon=float(old.group(1)), lat=float(old.group(2)), altitude=float(old.group(3))
        )
    alt = values.get("abs_alt", values.get("altitude", values.get("rel_alt")))
    if "lat" not in values or "lon" not in values or alt is None:
        raise ValueError("cue has no latitude/longitude/altitude fields")
    if not (-90 <= values["lat"] <= 90 and -180 <= values["lon"] <= 180):
        raise ValueError(f"latitude {values['lat']} / longitude {values['lon']} out of range")
    return _seconds(*m.groups()[:4]), values["lat"], values["lon"], alt


def import_dji(
    video: Path, srt: Path, out: Path, hfov_deg: float = 82.1, skip_bad: bool = False
) -> Path:
    """Write a bundle at `out` from a DJI mp4 and its SRT; the origin is the first fix."""
    track = parse_srt(srt, skip_bad=skip_bad)
    width, height, pts = probe(video)
    count = len(pts)
    n = min(count, len(track.t_s))
    if count != len(track.t_s):
        log.warning(
            "%s has %d frames, %s %d cues: keeping the first %d",
            video,
            count,
            srt,
            len(track.t_s),
            n,
        )
    origin = (track.lat_deg[0], track.lon_deg[0], track.alt_m[0])
    p = geodetic_to_ned(track.lat_deg[:n], track.lon_deg[:n], track.alt_m[:n], origin)
    t = track.t_s[:n]
    v = np.gradient(p, t, axis=0) if n > 1 else np.zeros_like(p)
    truth = np.column_stack([t, p, v, np.full((n, 4), np.nan)])
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(video, out / "video.mp4")
    manifest = new_manifest(
        f"DJI {video.name}",
        origin,
        float(t[-1]) + (t[-1] - t[0]) / max(n - 1, 1),
        {
            "reader": "harness.clip.srt",
            "video": video.name,
            "srt": srt.name,
            "notes": "truth is GNSS position only (no attitude); no IMU in a DJI SRT",
        },
        camera=nadir_camera(width, height, hfov_deg),
    )
    manifest["streams"]["frames"] = {"video": "video.mp4"}
    manifest["ground_truth"] = "position-only"
    write_bundle(out, manifest, None, truth, t)
    return out
