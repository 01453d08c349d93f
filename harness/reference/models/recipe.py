"""The default training recipe's settings, apart from the code that trains (no torch here).

The scenario session checks the trained checkpoint's key (settings + recipe source) before
every run; with these settings in a torch-free module that check costs no torch import.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Literal


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 12
    # stop once this many epochs in a row scored no better on validation than the best so far
    patience: int = 2
    lr: float = 1e-3
    margin: float = 0.1**0.5  # pytorch-NetVlad: sqrt(0.1) on L2 distances
    negatives: int = 10
    pos_radius_m: float = 75.0
    neg_radius_m: float = 200.0
    batch: int = 16
    kmeans_samples: int = 20000
    kmeans_iters: int = 25
    # assignment sharpness tried after k-means, picked by recall on the training queries
    alpha_grid: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0, 100.0)
    whiten_eps: float = 0.1  # x the mean eigenvalue added before whitening (regularised)
    seed: int = 0


CHECKPOINT_NAME = "netvlad_trained.pt"


@dataclass(frozen=True)
class TrainJob:
    """Everything the trained weights depend on (hashed into the resume key and provenance)."""

    width: int = 64
    clusters: int = 64
    # which encoder maps NetVLAD pools: "conv4" sets conv5 to identity kernels (the default,
    # picked on validation), "conv5" keeps the random conv5 block
    local_features: Literal["conv4", "conv5"] = "conv4"
    descriptor_dim: int = 4096
    encoder_seed: int = 0
    input_px: int = 160
    area_seeds: tuple[int, ...] = (101, 102)
    queries_per_area: int = 200
    area_size_m: float = 1600.0
    # a held-out area of the training side (never a test flight): picks the epoch to keep
    validation_seed: int | None = 103
    validation_queries: int = 100
    train: TrainConfig = field(default_factory=TrainConfig)

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]
