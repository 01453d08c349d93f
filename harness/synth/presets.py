"""The stand-in's presets resolved with a spec's overrides into one flat parameter set."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace

from harness.synth.spec import SynthSpec

GENERATOR_VERSION = 4  # bump when the output for a given spec changes


@dataclass(frozen=True)
class SynthParams:
    duration_s: float = 60.0
    frame_px: int = 240
    fps: float = 10.0
    fov_deg: float = 60.0
    speed_m_s: float = 15.0
    altitude_agl_m: float = 300.0
    imu_rate_hz: float = 200.0
    truth_rate_hz: float = 100.0
    imu_noise_scale: float = 1.0  # x the figures in harness.synth.imu (already 5x a datasheet)
    imu_jitter_s: float = 1e-4
    gsd_m: float = 0.5
    margin_m: float = 450.0
    corpus: bool = True
    corpus_tile_m: float = 200.0
    corpus_stride_m: float = 100.0
    corpus_tile_px: int = 240
    xyz_zoom: int = 17


_PRESETS = {
    "derkachi-10s": SynthParams(duration_s=10.0, frame_px=96, fps=5.0),
    "derkachi-60s": SynthParams(),
    "derkachi-300s": SynthParams(duration_s=300.0),
}
ORIGIN = (50.11, 36.12, 290.0)  # Derkachi, Kharkiv oblast; ground level above the ellipsoid


def resolve(spec: SynthSpec) -> SynthParams:
    params = _PRESETS[spec.preset]
    changes = {k: v for k, v in spec.overrides.model_dump().items() if v is not None}
    return replace(params, **changes)


def spec_hash(spec: SynthSpec) -> str:
    """Hash of everything the output depends on: params, seed, faults, generator version."""
    doc = {
        "generator": GENERATOR_VERSION,
        "origin": ORIGIN,
        "params": asdict(resolve(spec)),
        "seed": spec.seed,
        "faults": [f.model_dump() for f in spec.faults],
    }
    if spec.gap is not None:  # absent otherwise, so a spec without one keeps its hash
        doc["gap"] = spec.gap.model_dump()
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
