"""`harness provision finetune` as a library call: the stand-in checkpoint's pool trained further
on real survey frames, and its PCA-whitening refitted on them.

The encoder stays the stand-in recipe's (random, conv5 as identities), so its maps of the
real crops are computed once and cached as in training; the pool starts from the stand-in
checkpoint's and runs the same triplet epochs on the real training side of the split
(realset.py), with positives and negatives in metres that suit 18.5 m tiles.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import torch

from harness.reference.model_checks import load_weights
from harness.reference.models import checkpoint_io
from harness.reference.models import train as T
from harness.reference.models.features import (
    cached_conv_features,
    encoder_digest,
    training_precision,
)
from harness.reference.models.realrecipe import RealTuneJob
from harness.reference.models.realset import real_training_set
from harness.reference.models.recipe import CHECKPOINT_NAME
from harness.reference.models.trainjob import TrainResult, provenance_page
from harness.reference.vpr.netvlad import VGG16_CONV_INDICES, NetVladVgg16

log = logging.getLogger(__name__)


def finetune_checkpoint(
    job: RealTuneJob, base: Path, out_dir: Path, root: Path, cache_dir: Path | None
) -> TrainResult:
    """Fine-tune the checkpoint `base` on the real training split into `out_dir`."""
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(job.train.seed)
    model = NetVladVgg16(job.base.width, job.base.clusters, job.base.descriptor_dim)
    model.load_state_dict(load_weights(base), strict=True)  # weights_only: refuses pickles
    model.eval()
    rs = real_training_set(job.split, root, cache_dir or root / ".cache")
    log.info(
        "real training data: %s: %d query crops, %d map crops",
        rs.name,
        len(rs.queries),
        len(rs.tiles),
    )
    # conv5 holds identity kernels in the stand-in recipe: encode without them (same maps)
    conv4 = job.base.local_features == "conv4"
    encoder = model.encoder[: VGG16_CONV_INDICES[-3]] if conv4 else model.encoder
    enc_id, precision = encoder_digest(model.encoder), training_precision()

    def conv(images):
        return cached_conv_features(
            encoder, images, job.base.input_px, cache_dir, enc_id, precision
        )

    q, t = conv(rs.queries), conv(rs.tiles)
    score = T.retrieval_score(model.pool, q, t, rs.truth_ne_m, rs.centres_ne_m, job.train)
    log.info("training-side score of the stand-in pool %.3f", score)
    history = T.train_pool(model.pool, q, t, rs.truth_ne_m, rs.centres_ne_m, job.train)
    vlad = torch.cat([T.pooled(model.pool, q), T.pooled(model.pool, t)])
    rank = T.fit_pca_whitening(model, vlad, job.train.whiten_eps)
    ckpt = out_dir / CHECKPOINT_NAME
    digest = checkpoint_io.save_state(model.state_dict(), ckpt)
    seconds = time.perf_counter() - started
    base_doc = _base_provenance(base)
    provenance = {
        "checkpoint": ckpt.name,
        "sha256": digest,
        "layout": "NetVLAD-VGG16 upstream (31 keys)",
        "trained": [
            "pool.conv, pool.centroids (from the stand-in checkpoint, fine-tuned)",
            "pca (PCA-whitening refitted on the real crops)",
        ],
        "untrained": base_doc.get("untrained", "encoder as in the base checkpoint"),
        "data": [rs.name, *base_doc.get("data", [])],
        "data_detail": "fine-tuned from "
        f"{base.name} (sha256 {base_doc.get('sha256', '?')[:12]}..., stand-in recipe) on real "
        "survey frames turned north-up by their heading and height, cropped at the tile size "
        f"under the vehicle and {list(job.split.crop_offsets_m)} m across the track, against "
        f"north-up crops of the map every {job.split.map_stride_m:g} m; nothing within "
        f"{job.split.guard_m:g} m of a held-out frame",
        "query_alignment": "north-up",
        "encoder_maps": f"{precision} (training only; the stack runs its own runtime)",
        "input_px": job.base.input_px,
        "pca_rank": rank,
        "kept_epoch": len(history.loss),
        "validation_area": "none (a fixed number of epochs; the held-out lines never choose)",
        "kmeans_alpha": base_doc.get("kmeans_alpha", float("nan")),
        "job": {**asdict(job.base), "real": asdict(job)},
        "history": asdict(history),
        "train_seconds": seconds,
        "torch": torch.__version__,
    }
    ckpt.with_suffix(".provenance.json").write_text(json.dumps(provenance, indent=1))
    ckpt.with_suffix(".provenance.md").write_text(provenance_page(provenance))
    return TrainResult(ckpt, digest, history, seconds, provenance)


def _base_provenance(base: Path) -> dict:
    path = base.with_suffix(".provenance.json")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
