"""Makes the stand-in bundle for a spec, or finds it in the cache by the spec's hash.

What costs is made once and shared: the orthophoto and the corpus tiles once per flight
whatever its faults (`scene_key`, under `synth/scene`), the video once per flight less its
IMU faults (`video_key`, under `synth/video`), each hard-linked into the bundles that use it
(the same bytes, so the same content hash); a bundle makes only its own IMU, truth and
telemetry tables.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from harness.atomic import atomic_dir, atomic_path, build_lock
from harness.build_times import timed
from harness.clip.bundle import write_bundle
from harness.clip.corpus import write_corpus
from harness.clip.manifest import CANONICAL, FORMAT, FORMAT_VERSION
from harness.clip.video import write_video
from harness.synth.camera import intrinsics, render_frames
from harness.synth.faults import corrupt, fault_fraction, plan_frames
from harness.synth.flight import kinematics, make_trajectory
from harness.synth.gap import camera, mountings, other_date
from harness.synth.imu import make_imu, noise_figures
from harness.synth.presets import GENERATOR_VERSION, ORIGIN, SynthParams, resolve, spec_hash
from harness.synth.spec import ImuBiasStep, SynthSpec
from harness.synth.telemetry import make_telemetry, telemetry_figures
from harness.synth.terrain import Ortho, make_ortho
from harness.synth.tiles import local_grid, xyz_tiles

log = logging.getLogger(__name__)


def bundle_dir(spec: SynthSpec, cache_dir: Path) -> Path:
    return Path(cache_dir) / "synth" / spec_hash(spec)[:24]


def make_synth(spec: SynthSpec, cache_dir: Path, progress: bool = False) -> Path:
    """The bundle folder for `spec`: made once (atomically), then reused."""
    folder = bundle_dir(spec, cache_dir)
    if (folder / "manifest.json").exists():
        return folder
    # parallel workers (and containers sharing a cache volume) may want the same spec at
    # once: one builds it in a private folder, the others wait for it
    with build_lock(folder):
        if (folder / "manifest.json").exists():
            return folder
        started = time.perf_counter()
        with timed("clip", f"synth {spec.preset} seed {spec.seed}"), atomic_dir(folder) as part:
            _build(spec, part, progress, Path(cache_dir) / "synth")
    log.info("made synth clip %s in %.1f s", folder, time.perf_counter() - started)
    return folder


def video_key(spec: SynthSpec) -> str:
    """What the video depends on: the spec less the faults that touch only the IMU, so
    flights that differ only in an IMU fault render their frames once."""
    frames_only = spec.model_copy(
        update={"faults": [f for f in spec.faults if not isinstance(f, ImuBiasStep)]}
    )
    return spec_hash(frames_only)[:24]


def scene_key(spec: SynthSpec) -> str:
    """What the orthophoto and the corpus tiles depend on: the spec less every fault and the
    gap (the map is the same; the flight sees it on another date)."""
    return spec_hash(spec.model_copy(update={"faults": [], "gap": None}))[:24]


def _link(shared: Path, target: Path) -> None:
    """`target` as a hard link to `shared` (a copy on another filesystem); folders file by file."""
    if shared.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        for child in shared.iterdir():
            _link(child, target / child.name)
        return
    try:
        os.link(shared, target)
    except OSError:  # another filesystem, or no hard links there
        shutil.copyfile(shared, target)


def _video(out: Path, videos: Path, key: str, render: Callable[[Path], None]) -> None:
    """The bundle's video.mp4: rendered once per key into `videos`, then linked (or copied)."""
    shared = videos / f"{key}.mp4"
    if not shared.exists():
        videos.mkdir(parents=True, exist_ok=True)
        with build_lock(shared):
            if not shared.exists():
                with atomic_path(shared) as tmp:
                    render(tmp)
    _link(shared, out / "video.mp4")


def _scene(folder: Path, make: Callable[[Path], None]) -> dict:
    """The orthophoto and corpus tiles of a frames-only key: made once into `folder` (its
    `scene.json` last), then read from there."""
    if not (folder / "scene.json").exists():
        with build_lock(folder):
            if not (folder / "scene.json").exists():
                with atomic_dir(folder) as part:
                    make(part)
    return json.loads((folder / "scene.json").read_text())


def _load_ortho(folder: Path) -> Ortho:
    meta = json.loads((folder / "ortho.json").read_text())
    return Ortho(np.load(folder / "ortho.npy"), meta["n_max_m"], meta["e_min_m"], meta["gsd_m"])


def _pyramid(ortho: Ortho) -> list[Ortho]:
    pyramid = [ortho, ortho.halved()]
    pyramid.append(pyramid[-1].halved())
    return pyramid


def _build(spec: SynthSpec, out: Path, progress: bool, shared: Path) -> None:
    p = resolve(spec)
    seed = spec.seed
    traj = make_trajectory(np.random.default_rng([seed, 1]), p.speed_m_s, p.altitude_agl_m)
    t_truth = np.arange(round(p.duration_s * p.truth_rate_hz) + 1) / p.truth_rate_hz
    kin = kinematics(traj, t_truth)
    track = kin.p_ned_m[:, :2]
    bbox = np.array([track.min(0), track.max(0)])
    n_range = (bbox[0, 0] - p.margin_m, bbox[1, 0] + p.margin_m)
    e_range = (bbox[0, 1] - p.margin_m, bbox[1, 1] + p.margin_m)
    scene_dir = shared / "scene" / scene_key(spec)
    made: list[Ortho] = []  # the pyramid, once made or loaded

    def pyramid() -> list[Ortho]:
        if not made:
            made.extend(_pyramid(_load_ortho(scene_dir)))
        return made

    def make_scene(part: Path) -> None:
        ortho = make_ortho(seed, n_range, e_range, p.gsd_m)
        made[:] = _pyramid(ortho)
        np.save(part / "ortho.npy", ortho.image)
        meta = {
            "n_max_m": float(ortho.n_max_m),
            "e_min_m": float(ortho.e_min_m),
            "gsd_m": ortho.gsd_m,
        }
        (part / "ortho.json").write_text(json.dumps(meta))
        entries = _corpus(p, bbox, made, part) if p.corpus else {}
        doc = {"corpus": entries, "ortho_shape": list(ortho.image.shape)}
        (part / "scene.json").write_text(json.dumps(doc))

    scene = _scene(scene_dir, make_scene)
    gap = spec.gap
    r_cam, r_recorded = mountings(gap)

    plan = plan_frames(p.duration_s, p.fps, spec.faults)
    cam = intrinsics(p.frame_px, p.frame_px, p.fov_deg)
    fkin = kinematics(traj, plan.t_true_s)
    rng_c = np.random.default_rng([seed, 3])
    frac = fault_fraction(spec.faults)

    def render(path: Path) -> None:
        # the flight sees the map's land on its own date (the gap's), else the map itself
        seen = (
            pyramid()
            if gap is None
            else _pyramid(make_ortho(seed, n_range, e_range, p.gsd_m, other_date(gap, seed)))
        )
        frames = render_frames(seen, cam, fkin.p_ned_m, fkin.q_wxyz, r_cam)
        if gap is not None:
            rng_g = np.random.default_rng([seed, 5])
            frames = (camera(f, gap, rng_g) for f in frames)
        frames = (
            corrupt(f, rng_c, frac) if bad else f
            for f, bad in zip(frames, plan.corrupted, strict=True)
        )
        total = len(plan.t_true_s)
        shown = tqdm(frames, total=total, desc="render frames", unit="frame", disable=not progress)
        write_video(path, shown, p.fps)

    _video(out, shared / "video", video_key(spec), render)

    steps = [f for f in spec.faults if isinstance(f, ImuBiasStep)]
    imu = make_imu(
        traj,
        p.duration_s,
        p.imu_rate_hz,
        p.imu_noise_scale,
        p.imu_jitter_s,
        steps,
        np.random.default_rng([seed, 2]),
    )
    telemetry = make_telemetry(traj, p.duration_s, np.random.default_rng([seed, 4]))
    if scene["corpus"]:
        _link(scene_dir / "corpus", out / "corpus")

    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": f"synth {spec.preset} seed {seed}",
        "origin": {"lat_deg": ORIGIN[0], "lon_deg": ORIGIN[1], "alt_m": ORIGIN[2]},
        "duration_s": p.duration_s,
        "conventions": dict(CANONICAL),
        "camera": {
            **cam,
            "model": "pinhole",
            "fov_deg": p.fov_deg,
            "mounting": {
                "r_body_cam": r_recorded.tolist(),
                "lever_arm_m": [0.0, 0.0, 0.0],
                "description": "nadir; image top looks forward along body x"
                if gap is None
                else f"pitched {gap.tilt_deg:g} deg forward of nadir; image top looks forward",
            },
        },
        "streams": {"frames": {"video": "video.mp4", "codec": "h264", "nominal_fps": p.fps}},
        "corpus": scene["corpus"],
        "ground_truth": True,
        "imu_noise": {**noise_figures(p.imu_noise_scale), "jitter_s": p.imu_jitter_s},
        "telemetry": telemetry_figures(),
        "faults": [f.model_dump() for f in spec.faults],
        **({} if gap is None else {"gap": gap.model_dump()}),
        "fault_record": {"corrupted_frames": np.flatnonzero(plan.corrupted).tolist()},
        "licence": "generated by harness.synth; CC0",
        "provenance": {
            "generator": "harness.synth",
            "generator_version": GENERATOR_VERSION,
            "spec": spec.doc(),
            "params": asdict(p),
            "ortho_gsd_m": p.gsd_m,
            "ortho_shape": scene["ortho_shape"],
        },
    }
    q = kin.q_wxyz
    truth = np.column_stack([t_truth, kin.p_ned_m, kin.v_ned_m_s, q])
    imu_tab = np.column_stack([imu.t_s, imu.gyro_rad_s, imu.accel_m_s2])
    write_bundle(out, manifest, imu_tab, truth, plan.t_stamp_s, telemetry)
    for name in ("ortho.npy", "ortho.json"):  # after the bundle's file list, as always
        _link(scene_dir / name, out / name)


def _corpus(p: SynthParams, bbox: np.ndarray, pyramid: list[Ortho], out: Path) -> dict:
    """Both corpora of the flight's area written under `out/corpus`; their manifest entries."""
    cover = bbox + np.array([[-250.0, -250.0], [250.0, 250.0]])
    entries = {}
    for kind, make in (
        (
            "local-grid",
            lambda: local_grid(
                pyramid, cover, p.corpus_tile_m, p.corpus_stride_m, p.corpus_tile_px
            ),
        ),
        ("xyz", lambda: xyz_tiles(pyramid, cover, p.xyz_zoom, ORIGIN)),
    ):
        corpus = make()
        write_corpus(out / "corpus" / kind, corpus)
        entries[kind] = {
            "path": f"corpus/{kind}",
            "content_hash": corpus.content_hash,
            "tiles": len(corpus),
        }
    return entries
