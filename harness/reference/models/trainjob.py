"""`harness provision train` as a library call: data -> cluster -> train -> whiten -> checkpoint.

Resumable: after every epoch the pool, the optimiser and the curves are saved to
`OUT/train_state.pt`; a second run with the same settings continues from there. The checkpoint
keeps the upstream 31-key layout and gets a provenance page (JSON + Markdown) beside it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from harness.atomic import atomic_path
from harness.reference.models import checkpoint_io
from harness.reference.models import train as T
from harness.reference.models.evaluate import corpus_images
from harness.reference.models.features import (
    cached_conv_features,
    encoder_digest,
    random_model,
    training_precision,
)
from harness.reference.models.recipe import CHECKPOINT_NAME, TrainJob
from harness.reference.models.trainset import AreaSpec, GeoSet, training_area
from harness.reference.vpr.netvlad import VGG16_CONV_INDICES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    checkpoint: Path
    sha256: str
    history: T.History
    seconds: float
    provenance: dict


def _areas(job: TrainJob) -> list[GeoSet]:
    return [
        training_area(AreaSpec(seed=s, size_m=job.area_size_m, queries=job.queries_per_area))
        for s in job.area_seeds
    ]


def train_checkpoint(job: TrainJob, out_dir: Path, cache_dir: Path | None) -> TrainResult:
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(job.train.seed)
    model = random_model(job.width, job.clusters, job.descriptor_dim, job.encoder_seed)
    if job.local_features == "conv4":
        T.identity_conv5(model.encoder)
    enc_id = encoder_digest(model.encoder)
    areas = _areas(job)
    log.info("training data: %s", ", ".join(a.name for a in areas))

    # With conv5 as identities the maps are pool4's: encode without its three convs (equal
    # maps, a tenth of the work), cached under the whole encoder's digest.
    encoder = (
        model.encoder[: VGG16_CONV_INDICES[-3]] if job.local_features == "conv4" else model.encoder
    )

    precision = training_precision()
    log.info("encoder maps in %s", precision)

    def conv(images: np.ndarray) -> torch.Tensor:
        return cached_conv_features(encoder, images, job.input_px, cache_dir, enc_id, precision)

    q_conv = [conv(a.queries) for a in areas]
    t_conv = [conv(corpus_images(a.corpus)) for a in areas]
    # one database for all areas: offset each area far from the others so no tile of one is a
    # positive (or a near negative in metres) of another area's query
    shift = [np.array([0.0, 1e6 * i]) for i in range(len(areas))]
    truth = np.concatenate([a.truth_ne_m + s for a, s in zip(areas, shift, strict=True)])
    centres = np.concatenate([a.corpus.centres_ne_m + s for a, s in zip(areas, shift, strict=True)])
    q_all, t_all = torch.cat(q_conv), torch.cat(t_conv)

    val = None
    if job.validation_seed is not None:
        v = training_area(
            AreaSpec(
                seed=job.validation_seed, size_m=job.area_size_m, queries=job.validation_queries
            )
        )
        val = (conv(v.queries), conv(corpus_images(v.corpus)), v.truth_ne_m, v.corpus.centres_ne_m)

    state_path = out_dir / "train_state.pt"
    state = torch.load(state_path, weights_only=False) if state_path.exists() else None
    if state is not None and state.get("job") != job.key():
        log.info("%s was made with other settings: starting afresh", state_path)
        state = None
    if state is None:
        x = T.local_descriptors(torch.cat([q_all, t_all]), job.train.kmeans_samples, job.train.seed)
        centroids = T.kmeans(x, job.clusters, job.train.kmeans_iters, job.train.seed)
        auto = T.init_pool_from_centroids(model.pool, centroids, x)
        alpha, scores = T.select_alpha(
            model.pool, q_all, t_all, truth, centres, job.train, (auto, *job.train.alpha_grid)
        )
        log.info("alpha %.1f picked on the training queries (scores %s)", alpha, scores)
        history, opt_state = T.History(), None
        best = {"epoch": 0, "score": -1.0, "pool": None}
        if val is not None:
            score = T.retrieval_score(model.pool, *val, job.train)
            best = {"epoch": 0, "score": score, "pool": _copy(model.pool.state_dict())}
            log.info("validation score before training %.3f", score)
        log.info(
            "k-means: %d centroids from %d descriptors, alpha %.1f", job.clusters, len(x), alpha
        )
    else:
        model.pool.load_state_dict(state["pool"])
        history, opt_state, alpha = (
            T.History(**state["history"]),
            state["optimizer"],
            state["alpha"],
        )
        best = state["best"]
        log.info("resuming after epoch %d from %s", len(history.loss), state_path)

    def save_state(epoch: int, hist: T.History, opt: dict) -> bool:
        if val is not None:
            hist.validation.append(T.retrieval_score(model.pool, *val, job.train))
            if hist.validation[-1] > best["score"]:
                best.update(epoch=epoch + 1, score=hist.validation[-1])
                best["pool"] = _copy(model.pool.state_dict())
            log.info("validation score %.3f (best: epoch %d)", hist.validation[-1], best["epoch"])
        doc = {
            "best": best,
            "job": job.key(),
            "pool": model.pool.state_dict(),
            "optimizer": opt,
            "history": asdict(hist),
            "alpha": alpha,
        }
        with atomic_path(state_path) as tmp:
            torch.save(doc, tmp)
        return val is not None and T.stalled(epoch + 1, best["epoch"], job.train.patience)

    history = T.train_pool(
        model.pool, q_all, t_all, truth, centres, job.train, history, opt_state, save_state
    )
    if best["pool"] is not None:
        model.pool.load_state_dict(best["pool"])
        log.info(
            "keeping the pool of epoch %d (validation score %.3f)", best["epoch"], best["score"]
        )
    vlad = torch.cat([T.pooled(model.pool, q_all), T.pooled(model.pool, t_all)])
    rank = T.fit_pca_whitening(model, vlad, job.train.whiten_eps)
    ckpt = out_dir / CHECKPOINT_NAME
    digest = checkpoint_io.save_state(model.state_dict(), ckpt)
    seconds = time.perf_counter() - started
    provenance = {
        "checkpoint": ckpt.name,
        "sha256": digest,
        "layout": "NetVLAD-VGG16 upstream (31 keys)",
        "trained": ["pool.conv", "pool.centroids", "pca (PCA-whitening fit)"],
        "untrained": _encoder_note(job),
        "data": [a.name for a in areas],
        "data_detail": "stand-in orthophotos from the seeds above (never a test flight's seed); "
        "queries rendered at varied altitude/heading/bank/lighting, aligned north-up with "
        "noisy AHRS/baro; database = 200 m local-grid tiles, 100 m stride",
        "query_alignment": "north-up",
        "encoder_maps": f"{precision} (training only; the stack runs its own runtime)",
        "input_px": job.input_px,
        "pca_rank": rank,
        "kept_epoch": best["epoch"],
        "validation_area": None
        if job.validation_seed is None
        else f"area seed {job.validation_seed}",
        "kmeans_alpha": alpha,
        "job": asdict(job),
        "history": asdict(history),
        "train_seconds": seconds,
        "torch": torch.__version__,
    }
    ckpt.with_suffix(".provenance.json").write_text(json.dumps(provenance, indent=1))
    ckpt.with_suffix(".provenance.md").write_text(provenance_page(provenance))
    return TrainResult(ckpt, digest, history, seconds, provenance)


def _encoder_note(job: TrainJob) -> str:
    init = f"torchvision-style random init (Kaiming), seed {job.encoder_seed}, nothing pretrained"
    if job.local_features == "conv4":
        return (
            f"encoder conv1_1..conv4_3: {init}; conv5_1..conv5_3: identity kernels (set, "
            "not trained), so NetVLAD pools conv4's maps"
        )
    return f"encoder: {init}"


def _copy(state: dict) -> dict:
    return {k: v.detach().clone() for k, v in state.items()}


def provenance_page(doc: dict) -> str:
    h = doc["history"]
    last = f"{h['loss'][-1]:.4f}" if h["loss"] else "n/a"
    return "\n".join(
        [
            f"# {doc['checkpoint']}",
            "",
            f"- sha256: `{doc['sha256']}`",
            f"- layout: {doc['layout']}",
            f"- trained: {', '.join(doc['trained'])}",
            f"- not trained: {doc['untrained']}",
            f"- data: {'; '.join(doc['data'])}",
            f"- how: {doc['data_detail']}",
            f"- query preprocessing it expects: alignment `{doc['query_alignment']}`, "
            f"{doc['input_px']} px input, ImageNet normalisation",
            f"- encoder maps for training computed in {doc['encoder_maps']}",
            f"- k-means init of {doc['job']['clusters']} centroids; assignment sharpness alpha "
            f"{doc['kmeans_alpha']:g}, picked on the training queries",
            f"- kept: the pool after epoch {doc['kept_epoch']} (0 = the k-means init), "
            f"picked on {doc['validation_area']}",
            f"- PCA-whitening rank: {doc['pca_rank']} (of {doc['job']['descriptor_dim']} rows)",
            f"- epochs: {len(h['loss'])}, final triplet loss {last}, "
            f"training time {doc['train_seconds']:.0f} s",
            "",
        ]
    )
