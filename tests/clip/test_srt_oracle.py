"""DJI SRT: our reader against DJI_SRT_Parser (npm), an independent reader, on every SRT fixture.

Per file, samples are paired by cue time (by order in the generation without timing lines) and
compared: positions to 1e-6 deg, heights to 0.01 m, times to 1 ms, attitude where both read
it. What the two readers disagree on is counted by kind; each file's counts must equal the
ones explained in fixtures/dji/README.md (EXPLAINED below), so a new disagreement, or an
explained one that goes away, fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from harness.clip.srt import SrtTrack, parse_srt
from harness.errors import ClipError

ROOT = Path(__file__).resolve().parents[2]
DJI = ROOT / "fixtures" / "dji"
ORACLE_JS = Path(__file__).with_name("srt_oracle.js")
FILES = [
    *sorted(p for p in (DJI / "real").iterdir() if p.suffix.lower() == ".srt"),
    *sorted((DJI / "metadata-embedder").glob("*.SRT")),
    DJI / "DJI_0001.SRT",
]
# Our field -> the oracle's key for the same value.
ORACLE_KEY = {
    "rel_alt": "REL_ALT",
    "abs_alt": "ABS_ALT",
    "altitude": "ALTITUDE",
    "H": "ALTITUDE",
    "BAROMETER": "BAROMETER",
    "Hb": "HB",
}
# Attitude keys of the oracle, as (yaw, pitch, roll); its F_PRY/G_PRY relabel DJI's (p, r, y).
DRONE_KEYS = (("F_PRY", ("3", "2", "1")), (None, ("YAW", "PITCH", "ROLL")))
DRONE_KEYS += ((None, ("DRONE_YAW", "DRONE_PITCH", "DRONE_ROLL")),)
CAMERA_KEYS = (("G_PRY", ("3", "2", "1")), (None, ("GB_YAW", "GB_PITCH", "GB_ROLL")))
# file -> the disagreements fixtures/dji/README.md explains, by kind and count.
EXPLAINED = {
    # The npm release (1.2.4, 2021) predates the parser's Matrice 300 support (2022): it reads
    # GPS(lat,lon,0.0M) as (lon,lat,satellites).
    "matrice_300.srt": {"lat_lon_swapped": 381},
    # GPS(N/A,N/A,n) before a fix: the parser carries the previous cue's position into them.
    "mavic_pro_buggy.SRT": {"oracle_only_carried": 16},
    # The last cue ends inside `longtitude`: the parser carries the previous longitude over.
    "broken_incomplete2.SRT": {"oracle_only_carried": 1},
    # No timing lines: we clock by cue number (1 Hz), the parser by the date, which the file
    # writes twice for cues 296 and 297 and never for the second after: from cue 298 on, the
    # date is 1 s ahead of the cue count.
    "mavic_2_style.SRT": {"time": 171},
    # Cues at (0, 0) before a fix: the parser keeps them (latitude 0, no longitude), we drop
    # them.
    "neo2_nogps.SRT": {"oracle_only_0_0": 3},
    # Two drones in one file: we refuse it (mixed height fields), the parser throws.
    "mix_p4rtk_mavic2pro.srt": {"ours_refused": 1},
}


def _oracle(path: Path) -> list[dict]:
    """The parser's packets that hold a numeric position ([] when it reads none)."""
    if shutil.which("node") is None or not (ROOT / "node_modules" / "dji_srt_parser").is_dir():
        pytest.skip("DJI_SRT_Parser is not installed: run `npm install` (scripts/system-deps)")
    run = subprocess.run(
        ["node", str(ORACLE_JS), str(path)], capture_output=True, text=True, check=True, cwd=ROOT
    )
    packets = json.loads(run.stdout)["packets"] or []
    return [p for p in packets if isinstance(p.get("GPS", {}).get("LATITUDE"), (int, float))]


def _timecode_s(text: str) -> float:
    h, m, rest = text.split(":")
    s, ms = rest.split(",")
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def _ypr(packet: dict, keys) -> np.ndarray | None:
    for group, names in keys:
        src = packet.get(group) if group else packet
        if isinstance(src, dict) and all(isinstance(src.get(n), (int, float)) for n in names):
            return np.array([src[n] for n in names], dtype=float)
    return None


def _carried(packets: list[dict], j: int) -> bool:
    """Whether the parser's packet j repeats a coordinate of the packet before it."""
    gps, before = packets[j]["GPS"], packets[j - 1]["GPS"] if j else {}
    return any(gps.get(k) == before.get(k) for k in ("LATITUDE", "LONGITUDE"))


def _at_0_0(gps: dict) -> bool:
    """(0, 0) before a fix; the parser drops a longitude of 0 (it reads `lon || longtitude`)."""
    return gps.get("LATITUDE") == 0 and gps.get("LONGITUDE") in (0, None)


def _pairs(track: SrtTrack, packets: list[dict]) -> tuple[list[tuple[int, int]], dict]:
    """(ours, oracle) index pairs, and counts of the samples only one reader has."""
    if packets and "TIMECODE" not in packets[0]:  # no timing lines: pair by order
        n = min(len(track.t_s), len(packets))
        return [(i, i) for i in range(n)], {"count": abs(len(track.t_s) - len(packets))}
    theirs = {round(_timecode_s(p["TIMECODE"]) * 1000): j for j, p in enumerate(packets)}
    ours = {round(t * 1000): i for i, t in enumerate(track.t_s)}
    only_theirs = [j for ms, j in theirs.items() if ms not in ours]
    zero = [j for j in only_theirs if _at_0_0(packets[j]["GPS"])]
    carried = sum(_carried(packets, j) for j in only_theirs if j not in zero)
    return [(i, theirs[ms]) for ms, i in ours.items() if ms in theirs], {
        "oracle_only_0_0": len(zero),
        "oracle_only_carried": carried,
        "oracle_only": len(only_theirs) - len(zero) - carried,
        "ours_only": sum(ms not in theirs for ms in ours),
    }


def disagreements(path: Path) -> dict[str, int]:
    """What our reader and the parser disagree on in one file, by kind (zero counts dropped)."""
    packets = _oracle(path)
    try:
        track = parse_srt(path)
    except ClipError:
        return {"ours_refused": 1}
    pairs, out = _pairs(track, packets)
    if pairs:
        i, j = (np.array(x) for x in zip(*pairs, strict=True))
        lat = np.array([packets[k]["GPS"]["LATITUDE"] for k in j])
        lon = np.array([packets[k]["GPS"]["LONGITUDE"] for k in j])
        same = (np.abs(track.lat_deg[i] - lat) <= 1e-6) & (np.abs(track.lon_deg[i] - lon) <= 1e-6)
        swapped = (np.abs(track.lat_deg[i] - lon) <= 1e-6) & (
            np.abs(track.lon_deg[i] - lat) <= 1e-6
        )
        out["lat_lon_swapped"] = int(np.sum(swapped & ~same))
        out["position"] = int(np.sum(~same & ~swapped))
        if "TIMECODE" not in packets[0]:
            dates = np.array([packets[k]["DATE"] for k in j]) / 1000.0
            out["time"] = int(np.sum(np.abs((dates - dates[0]) - track.t_s[i]) > 1e-3))
        for name, values, field in (
            ("height", track.height_m, track.info["height_field"]),
            ("altitude", track.alt_m, track.info["altitude_field"]),
        ):
            if field is not None:
                theirs = np.array([packets[k].get(ORACLE_KEY[field], np.nan) for k in j], float)
                out[name] = int(np.sum(~(np.abs(values[i] - theirs) <= 0.01)))
        for name, ours, keys in (
            ("drone_attitude", track.drone_ypr_deg, DRONE_KEYS),
            ("camera_attitude", track.camera_ypr_deg, CAMERA_KEYS),
        ):
            theirs = [_ypr(packets[k], keys) for k in j]
            both = [
                (ours[a], b)
                for a, b in zip(i, theirs, strict=True)
                if ours is not None and np.isfinite(ours[a]).all() and b is not None
            ]
            out[name] = sum(not np.allclose(a, b, atol=1e-6) for a, b in both)
            out[f"{name}_read_by_one"] = sum(
                (ours is not None and np.isfinite(ours[a]).all()) != (b is not None)
                for a, b in zip(i, theirs, strict=True)
            )
    return {k: v for k, v in out.items() if v}


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_srt_fixture_reads_as_the_independent_parser_reads_it(path):
    assert disagreements(path) == EXPLAINED.get(path.name, {})


def test_every_explained_file_is_a_fixture():
    assert set(EXPLAINED) <= {p.name for p in FILES}


# Cue layouts of generations no public sidecar with a licence shows us (see fixtures/dji/
# README.md): the Matrice class's multi-line cue (a blank line and a lone `0` inside it) and
# the Mavic 2 Enterprise's `[Drone: Yaw:..]`. The layouts are DJI's as documented; the values
# are ours.
ENTERPRISE = (
    '<font size="28">FrameCnt: {n}, DiffTime: 33ms\r\n2024-02-27 22:30:45.{ms:03d}\r\n'
    "[fnum: 1.0] [focal_len: 58.00] [dzoom: 1.00] \r\n"
    "[latitude: 50.1100{n}] [longitude: 36.120000] [rel_alt: 40.{n} abs_alt: 330.{n}] \r\n"
    "[drone_speedx: 0.2 drone_speedy: 0.0 drone_speedz: 0.0] \r\n"
    "[drone_yaw: -20.{n} drone_pitch: 2.4 drone_roll: -2.1] \r\n"
    "[gb_yaw: -30.0 gb_pitch: -89.{n} gb_roll: 0.0] \r\n\r\n"
    "0\r\n[ae_meter_md : 0] [dzoom_ratio: 10000, delta:0] [color_md : default] \r\n</font>"
)
M2E = (
    '<font size="36">FrameCnt : {n}, DiffTime : 33ms\n2022-09-08 06:26:55,{ms:03d},370\n'
    "[color_md : default] [latitude: 50.1100{n}] [longtitude: 36.12] [altitude: 28.7{n}] "
    "[Drone: Yaw:-146.{n}, Pitch:-0.6, Roll:1.3] </font>"
)


def _layout(path: Path, payload: str, cues: int = 3) -> Path:
    eol = "\r\n" if "\r\n" in payload else "\n"
    text = ""
    for n in range(1, cues + 1):
        start, end = (n - 1) * 33, n * 33
        timing = f"00:00:00,{start:03d} --> 00:00:00,{end:03d}"
        text += eol.join([str(n), timing, payload.format(n=n, ms=start)]) + eol * 2
    path.write_text(text, newline="")
    return path


def test_enterprise_multi_line_cues_read_whole_and_as_the_parser_reads_them(tmp_path):
    path = _layout(tmp_path / "m300.SRT", ENTERPRISE)
    track = parse_srt(path)
    assert len(track.t_s) == 3 and track.info["cues"] == 3  # the `0` block is no cue of its own
    assert (track.info["height_field"], track.info["altitude_field"]) == ("rel_alt", "abs_alt")
    assert track.height_m.tolist() == [40.1, 40.2, 40.3]
    assert track.drone_ypr_deg[1] == pytest.approx([-20.2, 2.4, -2.1])
    assert track.camera_ypr_deg[1] == pytest.approx([-30.0, -89.2, 0.0])  # the gimbal's
    assert track.info["attitude_field"] == "[drone_yaw drone_pitch drone_roll]"
    assert disagreements(path) == {}


def test_mavic_2_enterprise_drone_attitude_reads_as_the_parser_reads_it(tmp_path):
    path = _layout(tmp_path / "m2e.SRT", M2E)
    track = parse_srt(path)
    assert track.drone_ypr_deg[2] == pytest.approx([-146.3, -0.6, 1.3])
    assert track.camera_ypr_deg is None and track.info["height_field"] is None
    assert disagreements(path) == {}
