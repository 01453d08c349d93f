"""Recall@N of a NetVLAD checkpoint on a geo-tagged set, and the seed's results table.

A hit is a retrieved tile whose footprint contains the query's true position (`footprint`, the
retrieval gate's default rule) or whose centre lies within `radius_m` of it (`radius`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from harness.clip.geo import inside_polygon
from harness.reference.models.features import cached_conv_features, encoder_digest
from harness.reference.models.trainset import GeoSet
from harness.reference.vpr.netvlad import NetVladVgg16

RECALL_AT = (1, 5, 10, 20)


@dataclass(frozen=True)
class Recall:
    """One row of the table: a model on a set under one hit rule."""

    model: str
    dataset: str
    rule: str
    queries: int
    recall: dict[int, float]
    ms_per_image: float | None = None


def corpus_images(corpus) -> np.ndarray:
    return np.stack([corpus.image(i) for i in range(len(corpus))])


@torch.no_grad()
def head(model: NetVladVgg16, conv: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """Pool + PCA on encoder outputs: the same result as model.forward on the images."""
    out = [
        F.normalize(model.pca(model.pool(conv[i : i + batch])), dim=1)
        for i in range(0, len(conv), batch)
    ]
    return torch.cat(out)


def descriptors(
    model: NetVladVgg16, images: np.ndarray, input_px: int, cache_dir: Path | None
) -> torch.Tensor:
    conv = cached_conv_features(
        model.encoder, images, input_px, cache_dir, encoder_digest(model.encoder)
    )
    return head(model, conv)


@torch.no_grad()
def forward_ms(model: NetVladVgg16, input_px: int, repeats: int = 3) -> float:
    """Median wall time of one single-image forward pass, in milliseconds."""
    x = torch.rand(1, 3, input_px, input_px)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        model(x)
        times.append((time.perf_counter() - started) * 1000)
    return float(np.median(times))


def int8_dynamic(model: NetVladVgg16) -> NetVladVgg16:
    """Dynamic int8 quantisation of the Linear layers (the 32768 -> 4096 PCA: 90 % of weights)."""
    return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def hit_matrix(geo: GeoSet, rule: str, radius_m: float) -> np.ndarray:
    """(Q, N) booleans: tile j is a hit for query i under the rule."""
    if rule == "footprint":
        feet = geo.corpus.footprints_ne_m
        return np.array([[inside_polygon(p, f) for f in feet] for p in geo.truth_ne_m], dtype=bool)
    centres = geo.corpus.centres_ne_m
    return np.linalg.norm(centres[None] - geo.truth_ne_m[:, None], axis=2) <= radius_m


def chance_recall(hit: np.ndarray, n: int) -> float:
    """Expected recall@n of a uniformly random ranking: what a model that knows nothing gets.

    A query with h hits among N tiles misses the first n with probability
    prod_{i<n} (N - h - i) / (N - i).
    """
    tiles = hit.shape[1]
    h = hit.sum(axis=1).astype(float)
    i = np.arange(min(n, tiles))[None]
    miss = np.clip((tiles - h[:, None] - i) / (tiles - i), 0.0, None).prod(axis=1)
    return float((1.0 - miss).mean())


def recall_table(
    name: str,
    q_desc: torch.Tensor | None,
    t_desc: torch.Tensor | None,
    geo: GeoSet,
    radius_m: float,
    ms_per_image: float | None = None,
) -> list[Recall]:
    """Rows for the footprint rule and the radius rule; no descriptors: the chance rows."""
    order = None if q_desc is None else torch.cdist(q_desc, t_desc).argsort(dim=1).numpy()
    rows = []
    for rule in ("footprint", "radius"):
        label = rule if rule == "footprint" else f"<= {radius_m:g} m"
        hit = hit_matrix(geo, rule, radius_m)
        if order is None:
            rec = {n: chance_recall(hit, n) for n in RECALL_AT}
        else:
            ranked = np.take_along_axis(hit, order, axis=1)
            rec = {n: float(ranked[:, :n].any(axis=1).mean()) for n in RECALL_AT}
        rows.append(Recall(name, geo.name, label, len(hit), rec, ms_per_image))
    return rows


def format_table(rows: list[Recall]) -> str:
    """Markdown like pytorch-NetVlad's results table: one row per model and rule."""
    head_ = "| Model | Hit rule | Queries | " + " | ".join(f"R@{n}" for n in RECALL_AT)
    head_ += " | ms/image |"
    lines = [head_, "|" + "---|" * (4 + len(RECALL_AT))]
    for r in rows:
        ms = "" if r.ms_per_image is None else f"{r.ms_per_image:.0f}"
        cells = " | ".join(f"{r.recall[n]:.2f}" for n in RECALL_AT)
        lines.append(f"| {r.model} | {r.rule} | {r.queries} | {cells} | {ms} |")
    return "\n".join(lines)
