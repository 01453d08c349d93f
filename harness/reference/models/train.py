"""Training NetVLAD's pool and PCA-whitening on cached encoder features (the paper's recipe).

0. Local features: with a random encoder (no pretrained weights are reachable), conv4's maps
   retrieve better than conv5's (measured on the validation area and flight: docs/training.md),
   so conv5_1..conv5_3 are set to identity kernels and the encoder outputs conv4's (pool4)
   maps. The checkpoint keeps the upstream layout; the stack runs it unchanged.
1. Cluster: k-means of sampled, L2-normalised local descriptors into the K centroids; the
   soft-assignment conv is set from them as in the paper (w_k = 2 alpha c_k, b_k = -alpha |c_k|^2).
2. Train: triplet ranking loss with weak supervision. The best positive is the nearest (in
   descriptor space) tile whose centre is within `pos_radius_m` of the query; hard negatives are
   the nearest tiles beyond `neg_radius_m`, mined from a descriptor cache refreshed every epoch.
3. PCA-whitening fitted on the training descriptors fills `pca` (rank-limited by their count).

The encoder is fixed, so its maps are computed once; every step runs the pool only, which is
cheap on a CPU.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.reference.models.recipe import TrainConfig
from harness.reference.vpr.netvlad import VGG16_CONV_INDICES, NetVladPool, NetVladVgg16

log = logging.getLogger(__name__)


@dataclass
class History:
    """Per-epoch loss and recall on the training queries, for curves and resuming."""

    loss: list[float] = field(default_factory=list)
    recall_at_1: list[float] = field(default_factory=list)
    validation: list[float] = field(default_factory=list)  # recall@1 + recall@5, held-out area
    seconds: list[float] = field(default_factory=list)


def identity_conv5(encoder: nn.Sequential) -> None:
    """conv5_1..conv5_3 as identity kernels: the encoder then outputs conv4's (pool4) maps.

    pool4's output is non-negative, so the ReLUs between the identities change nothing.
    """
    with torch.no_grad():
        for index in VGG16_CONV_INDICES[-3:]:
            conv = encoder[index]
            if conv.in_channels != conv.out_channels:
                raise ValueError(f"conv at encoder.{index} is not square: no identity kernel")
            conv.weight.zero_()
            conv.bias.zero_()
            conv.weight[:, :, 1, 1] = torch.eye(conv.out_channels)


def local_descriptors(conv: torch.Tensor, samples: int, seed: int) -> torch.Tensor:
    """Random L2-normalised local descriptors of encoder maps, (samples, D)."""
    x = F.normalize(conv, dim=1).permute(0, 2, 3, 1).reshape(-1, conv.shape[1])
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(x), generator=g)[: min(samples, len(x))]
    return x[pick]


def kmeans(x: torch.Tensor, k: int, iters: int, seed: int) -> torch.Tensor:
    """Lloyd's k-means with k-means++ seeding; (k, D) centroids."""
    g = torch.Generator().manual_seed(seed)
    centres = [x[torch.randint(len(x), (1,), generator=g)].squeeze(0)]
    d2 = torch.cdist(x, centres[0][None]).squeeze(1) ** 2
    for _ in range(1, k):
        nxt = x[torch.multinomial(d2 / d2.sum(), 1, generator=g)].squeeze(0)
        centres.append(nxt)
        d2 = torch.minimum(d2, torch.cdist(x, nxt[None]).squeeze(1) ** 2)
    c = torch.stack(centres)
    for _ in range(iters):
        assign = torch.cdist(x, c).argmin(dim=1)
        for j in range(k):
            members = x[assign == j]
            if len(members):
                c[j] = members.mean(dim=0)
    return c


def init_pool_from_centroids(pool: NetVladPool, centroids: torch.Tensor, x: torch.Tensor) -> float:
    """The paper's initialisation; alpha as pytorch-NetVlad picks it (nearest centroid wins)."""
    d2 = torch.cdist(x, centroids) ** 2
    two = d2.topk(2, dim=1, largest=False).values
    alpha = float(-np.log(0.01) / (two[:, 1] - two[:, 0]).mean().clamp_min(1e-6))
    with torch.no_grad():
        pool.centroids.copy_(centroids)
        pool.conv.weight.copy_((2 * alpha * centroids)[:, :, None, None])
        pool.conv.bias.copy_(-alpha * (centroids**2).sum(dim=1))
    return alpha


def set_alpha(pool: NetVladPool, alpha: float) -> None:
    """Assignment conv for the current centroids at sharpness alpha (the paper's form)."""
    c = pool.centroids.detach()
    with torch.no_grad():
        pool.conv.weight.copy_((2 * alpha * c)[:, :, None, None])
        pool.conv.bias.copy_(-alpha * (c**2).sum(dim=1))


def retrieval_score(
    pool: NetVladPool,
    q_conv: torch.Tensor,
    t_conv: torch.Tensor,
    truth_ne: np.ndarray,
    centres_ne: np.ndarray,
    cfg: TrainConfig,
) -> float:
    """recall@1 + recall@5 within the positive radius: one number to pick alpha and epochs by."""
    d = torch.cdist(pooled(pool, q_conv), pooled(pool, t_conv))
    top = d.topk(5, dim=1, largest=False).indices.numpy()
    near = np.linalg.norm(centres_ne[top] - truth_ne[:, None], axis=2) <= cfg.pos_radius_m
    return float(near[:, 0].mean() + near.any(axis=1).mean())


def select_alpha(
    pool: NetVladPool,
    q_conv: torch.Tensor,
    t_conv: torch.Tensor,
    truth_ne: np.ndarray,
    centres_ne: np.ndarray,
    cfg: TrainConfig,
    candidates: tuple[float, ...],
) -> tuple[float, dict[float, float]]:
    """The alpha with the best recall@1 + recall@5 on the training queries (training data only)."""
    scores = {}
    for alpha in candidates:
        set_alpha(pool, alpha)
        scores[alpha] = retrieval_score(pool, q_conv, t_conv, truth_ne, centres_ne, cfg)
    best = max(scores, key=scores.get)
    set_alpha(pool, best)
    return best, scores


@torch.no_grad()
def pooled(pool: NetVladPool, conv: torch.Tensor, batch: int = 64) -> torch.Tensor:
    return torch.cat([pool(conv[i : i + batch]) for i in range(0, len(conv), batch)])


def triplets(
    q_desc: torch.Tensor,
    t_desc: torch.Tensor,
    truth_ne: np.ndarray,
    centres_ne: np.ndarray,
    cfg: TrainConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query, best positive, hard negatives) indices for queries that have a positive."""
    dist_m = np.linalg.norm(truth_ne[:, None] - centres_ne[None], axis=2)
    d = torch.cdist(q_desc, t_desc).numpy()
    keep, pos, negs = [], [], []
    for i in range(len(q_desc)):
        p = np.flatnonzero(dist_m[i] <= cfg.pos_radius_m)
        n = np.flatnonzero(dist_m[i] > cfg.neg_radius_m)
        if not len(p) or len(n) < cfg.negatives:
            continue
        keep.append(i)
        pos.append(p[np.argmin(d[i, p])])
        negs.append(n[np.argsort(d[i, n])[: cfg.negatives]])
    return np.array(keep, int), np.array(pos, int), np.array(negs, int).reshape(-1, cfg.negatives)


def recall_at_1(
    q_desc: torch.Tensor, t_desc: torch.Tensor, truth_ne, centres_ne, radius_m
) -> float:
    top = torch.cdist(q_desc, t_desc).argmin(dim=1).numpy()
    return float(np.mean(np.linalg.norm(centres_ne[top] - truth_ne, axis=1) <= radius_m))


def train_pool(
    pool: NetVladPool,
    q_conv: torch.Tensor,
    t_conv: torch.Tensor,
    truth_ne: np.ndarray,
    centres_ne: np.ndarray,
    cfg: TrainConfig,
    history: History | None = None,
    optimizer_state: dict | None = None,
    on_epoch: Callable[[int, History, dict], bool] | None = None,
) -> History:
    """Triplet-loss epochs; hard negatives re-mined from fresh descriptors every epoch.

    `on_epoch` sees each finished epoch and returns True to stop there (early stopping).
    """
    history = history or History()
    opt = torch.optim.Adam(pool.parameters(), lr=cfg.lr)
    if optimizer_state:
        opt.load_state_dict(optimizer_state)
    loss_fn = torch.nn.TripletMarginLoss(margin=cfg.margin, p=2, reduction="sum")
    g = torch.Generator().manual_seed(cfg.seed)
    for epoch in range(len(history.loss), cfg.epochs):
        started = time.perf_counter()
        pool.eval()
        q_desc, t_desc = pooled(pool, q_conv), pooled(pool, t_conv)
        keep, pos, negs = triplets(q_desc, t_desc, truth_ne, centres_ne, cfg)
        pool.train()
        total, count = 0.0, 0
        order = torch.randperm(len(keep), generator=g).numpy()
        for b in range(0, len(order), cfg.batch):
            sel = order[b : b + cfg.batch]
            n = len(sel)
            tiles = np.concatenate([pos[sel], negs[sel].ravel()])
            uniq, inv = np.unique(tiles, return_inverse=True)
            tv = pool(t_conv[uniq])[torch.from_numpy(inv)]
            qv = pool(q_conv[keep[sel]])
            pv, nv = tv[:n], tv[n:].view(n, cfg.negatives, -1)
            anchors = qv[:, None].expand_as(nv).reshape(-1, qv.shape[1])
            positives = pv[:, None].expand_as(nv).reshape(-1, qv.shape[1])
            loss = loss_fn(anchors, positives, nv.reshape(-1, qv.shape[1])) / (n * cfg.negatives)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, count = total + float(loss.detach()) * n, count + n
        pool.eval()
        q_desc, t_desc = pooled(pool, q_conv), pooled(pool, t_conv)
        history.loss.append(total / max(count, 1))
        history.recall_at_1.append(
            recall_at_1(q_desc, t_desc, truth_ne, centres_ne, cfg.pos_radius_m)
        )
        history.seconds.append(time.perf_counter() - started)
        log.info(
            "epoch %d/%d loss %.4f train recall@1 %.2f (%.1f s)",
            epoch + 1,
            cfg.epochs,
            history.loss[-1],
            history.recall_at_1[-1],
            history.seconds[-1],
        )
        if on_epoch is not None and on_epoch(epoch, history, opt.state_dict()):
            log.info("stopping after epoch %d: validation did not improve", epoch + 1)
            break
    return history


def stalled(epochs_done: int, best_epoch: int, patience: int) -> bool:
    """True once `patience` epochs in a row have not beaten the best (epoch 0: the init)."""
    return patience > 0 and epochs_done - best_epoch >= patience


def fit_pca_whitening(
    model: NetVladVgg16, vlad: torch.Tensor, eps: float, whiten: bool = True
) -> int:
    """PCA(-whitening) of VLAD vectors into `model.pca`; rows past the data's rank stay zero."""
    x = vlad.double()
    mean = x.mean(dim=0)
    _, s, vt = torch.linalg.svd(x - mean, full_matrices=False)
    out = model.pca.out_features
    rank = int(min(out, (s > s[0] * 1e-6).sum()))
    var = s[:rank] ** 2 / max(len(x) - 1, 1)
    scale = 1.0 / torch.sqrt(var + eps * var.mean()) if whiten else torch.ones(rank).double()
    w = torch.zeros(out, x.shape[1], dtype=torch.float64)
    w[:rank] = vt[:rank] * scale[:, None]
    with torch.no_grad():
        model.pca.weight.copy_(w.float())
        model.pca.bias.copy_((-w @ mean).float())
    return rank


def config_dict(cfg: TrainConfig) -> dict:
    return asdict(cfg)
