"""The fine-tune on real frames' settings (no torch here): which survey frames train, which
are held out, and how. Kept apart from recipe.py so that the stand-in checkpoint's key (which
hashes recipe.py) does not change when only the fine-tune does."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from harness.reference.models.recipe import TrainConfig, TrainJob

REAL_FIXTURE = "fixtures/real-imagery/zr10-tanay"


@dataclass(frozen=True)
class RealSplit:
    """Which frames of a real survey train and which are held out (realset.py says how).

    The ZR10 survey flies six lines towards WSW between 40 s and 580 s; lines 1-3 (frames
    before 320 s) train, lines 4-6 (340-580 s, the zr10-finetuned scenario's segment) are held
    out. No training sample lies within `guard_m` of a held-out frame: a tile's diagonal (26 m)
    plus the truth's 95 % radius (10 m) and a margin, so no trained ground is queried."""

    images: str = f"{REAL_FIXTURE}/images"
    track: str = f"{REAL_FIXTURE}/gps.csv"
    map: str = f"{REAL_FIXTURE}/map.tif"
    zoom: int = 21
    tile_px: int = 128
    train_from_s: float = 40.0  # level flight (take-off cut, as the scenarios)
    train_to_s: float = 320.0
    heldout_from_s: float = 340.0
    heldout_to_s: float = 580.0
    guard_m: float = 40.0
    min_height_m: float = 60.0  # level flight at 70 m only
    crop_offsets_m: tuple[float, ...] = (-16.0, -8.0, 0.0, 8.0, 16.0)  # across the track
    map_stride_m: float = 6.0


def _real_tune_config() -> TrainConfig:
    # 18.5 m tiles: a positive lies within 10 m of the crop, a negative beyond 30 m
    return TrainConfig(epochs=4, patience=0, pos_radius_m=10.0, neg_radius_m=30.0)


@dataclass(frozen=True)
class RealTuneJob:
    """The fine-tune on real frames: the stand-in recipe's checkpoint (`base`), its pool
    trained further and its whitening refitted on the training side of `split`."""

    base: TrainJob = field(default_factory=TrainJob)
    split: RealSplit = field(default_factory=RealSplit)
    train: TrainConfig = field(default_factory=_real_tune_config)

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]
