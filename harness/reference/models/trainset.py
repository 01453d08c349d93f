"""Geo-tagged image sets for training and testing NetVLAD on the stand-in.

Training areas are orthophotos from their own seeds (new terrain, never the test flight's); the
database is the same local grid of north-up tiles the clips carry, and queries are nadir frames
rendered at random places with varied altitude, heading, bank and lighting, then aligned with
noisy AHRS/baro readings. Test sets are real clip flights: frames at `rate_hz`, aligned with the
clip's telemetry (AHRS attitude, baro height) as the stack aligns them, against the clip's
corpus; truth only labels where each query was.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.clip.corpus import TileCorpus
from harness.errors import ClipError
from harness.reference.vpr.align import QueryAlignment, align_north_up
from harness.synth.camera import R_BODY_CAM, intrinsics, render_frames
from harness.synth.flight import euler_to_q_wxyz
from harness.synth.terrain import make_ortho
from harness.synth.tiles import local_grid


@dataclass(frozen=True)
class GeoSet:
    """Query images with true positions, and the tile database they are matched against."""

    name: str
    queries: np.ndarray  # (Q, S, S, 3) uint8
    truth_ne_m: np.ndarray  # (Q, 2)
    corpus: TileCorpus


@dataclass(frozen=True)
class AreaSpec:
    """One training area and how its queries vary."""

    seed: int
    size_m: float = 1600.0
    queries: int = 200
    altitude_m: tuple[float, float] = (220.0, 380.0)
    bank_deg: float = 8.0
    heading_noise_deg: float = 3.0
    altitude_noise: float = 0.04
    lighting: float = 0.5  # strength of the lighting changes (1 = full span, 0 = none)
    frame_px: int = 240
    fov_deg: float = 60.0
    tile_m: float = 200.0
    stride_m: float = 100.0
    tile_px: int = 240


def lighting(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Brightness, contrast, colour cast and gamma: the sun and the camera's exposure.

    `strength` 1 spans gamma 0.8-1.25, contrast and brightness +-20 %, colour cast +-8 %.
    """
    s = strength
    x = image.astype(np.float32) / 255.0
    x = x ** np.exp(rng.uniform(-0.22, 0.22) * s)
    x = (x - 0.5) * (1 + rng.uniform(-0.2, 0.2) * s) + 0.5 + rng.uniform(-0.1, 0.1) * s
    x = x * (1 + rng.uniform(-0.08, 0.08, 3) * s)
    x = x + rng.normal(0, 0.01, x.shape)
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def training_area(spec: AreaSpec) -> GeoSet:
    """Tiles over a square area and aligned queries rendered inside it."""
    rng = np.random.default_rng([spec.seed, 90])
    half = spec.size_m / 2
    pad = 450.0  # the frames of the highest, most banked query stay on the map
    ortho = make_ortho(spec.seed, (-half - pad, half + pad), (-half - pad, half + pad), 0.5)
    pyramid = [ortho, ortho.halved()]
    pyramid.append(pyramid[-1].halved())
    bbox = np.array([[-half, -half], [half, half]])
    corpus = local_grid(pyramid, bbox, spec.tile_m, spec.stride_m, spec.tile_px)
    n = spec.queries
    ne = rng.uniform(-half + spec.tile_m / 2, half - spec.tile_m / 2, (n, 2))
    alt = rng.uniform(*spec.altitude_m, n)
    euler = np.column_stack(
        [
            rng.normal(0, np.radians(spec.bank_deg) / 2, n),
            rng.normal(0, np.radians(spec.bank_deg) / 4, n),
            rng.uniform(-np.pi, np.pi, n),
        ]
    )
    cam = intrinsics(spec.frame_px, spec.frame_px, spec.fov_deg)
    p_ned = np.column_stack([ne, -alt])
    frames = render_frames(pyramid, cam, p_ned, euler_to_q_wxyz(euler))
    # the AHRS and baro readings the aligner gets: the truth plus their errors
    noisy = euler + np.column_stack(
        [
            rng.normal(0, np.radians(1.0), (n, 2)),
            rng.normal(0, np.radians(spec.heading_noise_deg), n),
        ]
    )
    q_meas = euler_to_q_wxyz(noisy)
    alt_meas = alt * (1 + rng.normal(0, spec.altitude_noise, n))
    queries = np.empty((n, spec.tile_px, spec.tile_px, 3), np.uint8)
    for i, frame in enumerate(frames):
        lit = lighting(frame, rng, spec.lighting * rng.uniform())
        queries[i] = align_north_up(
            lit, cam, R_BODY_CAM, q_meas[i], alt_meas[i], spec.tile_m, spec.tile_px
        )
    return GeoSet(f"area seed {spec.seed}", queries, ne, corpus)


def clip_flight(
    preset: str,
    seed: int,
    cache_dir: Path,
    rate_hz: float = 1.0,
    alignment: QueryAlignment = "north-up",
    corpus_kind: str = "local-grid",
    gap: dict | None = None,
) -> GeoSet:
    """A stand-in flight's frames at `rate_hz` (aligned or not) against its tile corpus;
    `gap` (the synth spec's, `{}` the default one) puts a real flight's gap between them."""
    from harness.clip import ClipRef, Segment, load_clip

    synth = {"preset": preset, "seed": seed, **({} if gap is None else {"gap": gap})}
    ref = ClipRef.model_validate({"synth": synth})
    clip = load_clip(ref, Segment(start_s=0, duration_s=None), cache_dir)
    corpus = clip.corpus(corpus_kind)
    tile_px = corpus.image(0).shape[0]
    step = max(1, round(1.0 / (rate_hz * np.median(np.diff(clip.frames.t_s)))))
    idx = np.arange(0, len(clip.frames), step)
    t = clip.frames.t_s[idx]
    truth, tel = clip.truth, clip.telemetry
    if alignment == "north-up" and tel is None:
        raise ClipError(
            f"{preset} seed {seed}: north-up alignment needs the clip's telemetry stream "
            "(AHRS attitude, baro height); re-make the clip with the current generator"
        )
    cam = clip.camera
    intr = {"fx": cam.fx, "fy": cam.fy, "cx": cam.cx, "cy": cam.cy}
    images = []
    for i, ti in zip(idx, t, strict=True):
        frame = clip.frames.read(int(i))
        if alignment == "north-up":
            j = tel.index_at(float(ti)) or 0
            frame = align_north_up(
                frame,
                intr,
                cam.r_body_cam,
                tel.q_wxyz[j],
                float(tel.baro_height_m[j]),
                corpus.size_m,
                tile_px,
            )
        images.append(frame)
    k = truth.index_at(t)  # the labels: where each query really was
    name = f"{preset} seed {seed}{'' if gap is None else ' with the gap'} ({alignment})"
    return GeoSet(name, np.stack(images), truth.p_ned_m[k, :2], corpus)
