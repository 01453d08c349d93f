"""The netvlad VPR strategy: embed the tile corpus (cached) and query frames, retrieve top-K
tiles by inner product, and turn each query's best tile into a position fix."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from pathlib import Path

import numpy as np

from harness.clip import Clip, TileCorpus
from harness.errors import ClipError
from harness.reference.runtimes import Runtime, calibration_tiles, make_runtime
from harness.reference.vpr.align import align_north_up
from harness.reference.vpr.preprocess import to_input
from harness.run.stage import Engine, Fix, RunContext, StageStop

log = logging.getLogger(__name__)
BATCH = 16


class NetVladStrategy:
    """create / embed_query / retrieve_topk, as the onboard VPR strategy exposes them."""

    def __init__(
        self, runtime: Runtime, input_px: int, tiles: np.ndarray, normalisation: dict | None = None
    ) -> None:
        self.runtime, self.input_px, self.tiles = runtime, input_px, tiles
        self.normalisation = normalisation  # the checkpoint's own, else ImageNet

    def embed(self, images: np.ndarray) -> np.ndarray:
        return self.runtime.embed(to_input(images, self.input_px, self.normalisation))

    def embed_query(self, frame: np.ndarray) -> np.ndarray:
        return self.embed(frame[None])

    def retrieve_topk(self, descriptor: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = self.tiles @ descriptor.reshape(-1)
        top = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
        top = top[np.argsort(-scores[top])]
        return top, scores[top]


def tile_descriptors(
    runtime: Runtime, engine: Engine, corpus: TileCorpus, input_px: int, cache_dir: Path
) -> tuple[np.ndarray, bool]:
    """Corpus descriptors, cached by (checkpoint sha256, corpus hash, runtime, input size)."""
    key = f"{engine.sha256}:{corpus.content_hash}:{runtime.name}:{input_px}"
    if engine.normalisation is not None:  # other preprocessing, other descriptors
        key += f":{sorted(engine.normalisation.items())}"
    path = cache_dir / "descriptors" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npy"
    if path.exists():
        return np.load(path), True
    strategy = NetVladStrategy(runtime, input_px, np.empty(0), engine.normalisation)
    out = []
    for start in range(0, len(corpus.ids), BATCH):
        batch = np.stack(
            [corpus.image(i) for i in range(start, min(start + BATCH, len(corpus.ids)))]
        )
        out.append(strategy.embed(batch))
        log.info("tile descriptors %d/%d", min(start + BATCH, len(corpus.ids)), len(corpus.ids))
    desc = np.concatenate(out).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.npy")
    np.save(tmp, desc)
    tmp.replace(path)
    return desc, False


def query_frames(clip: Clip, rate_hz: float) -> list[int]:
    """Indices of the first frame at or after each 1/rate_hz tick."""
    t = np.asarray(clip.frames.t_s)
    ticks = np.arange(t[0], t[-1] + 1e-9, 1.0 / rate_hz)
    return sorted({int(i) for i in np.searchsorted(t, ticks) if i < len(t)})


def _truth_at(clip: Clip, t_s: float) -> tuple[np.ndarray, np.ndarray] | None:
    if clip.truth is None:
        return None
    i = clip.truth.index_at(t_s)
    return clip.truth.p_ned_m[i], clip.truth.q_wxyz[i]


def _query_image(clip: Clip, frame: np.ndarray, t_s: float, corpus: TileCorpus, align: str):
    if align == "none":
        return frame
    truth = _truth_at(clip, t_s)
    if truth is None:
        raise StageStop("north-up alignment needs attitude and height telemetry; the clip has none")
    p, q = truth  # the clip's attitude and height stand in for the AHRS and baro
    cam = clip.camera
    intr = {"fx": cam.fx, "fy": cam.fy, "cx": cam.cx, "cy": cam.cy}
    r_body_cam = np.asarray(cam.mounting["r_body_cam"], dtype=float)
    tile_px = corpus.image(0).shape[0]
    return align_north_up(frame, intr, r_body_cam, q, -float(p[2]), corpus.size_m, tile_px)


def corpus_descriptors(ctx: RunContext, engine: Engine) -> tuple[Runtime, TileCorpus, np.ndarray]:
    """The engine's runtime and the clip's tile descriptors (cached), both recorded: the
    provisioning a run pays before its first query."""
    vpr = ctx.scenario.vpr
    runtime, check = make_runtime(
        engine,
        vpr.input_px,
        ctx.cache_dir / "engines",
        vpr.allow_fp32_fallback,
        tiles=None if ctx.corpus is None else lambda: calibration_tiles(ctx.corpus),
    )
    ctx.emit(
        "provisioning",
        "check",
        backbone=engine.backbone.name,
        check=check.check,
        ok=check.ok,
        detail=check.detail,
    )
    if not check.ok:
        raise StageStop(check.detail)
    corpus = ctx.corpus
    if corpus is None:
        raise ClipError(
            f"{ctx.clip.manifest.get('_path', 'the clip')}: the netvlad strategy needs a tile "
            "corpus, and neither the clip nor the scenario has one; add `corpus: {kind: "
            "geotiff|xyz, path: ...}` to the scenario"
        )
    started = time.perf_counter()
    tiles, cached = tile_descriptors(runtime, engine, corpus, vpr.input_px, ctx.cache_dir)
    ctx.emit(
        "vpr",
        "corpus",
        tiles=len(corpus.ids),
        corpus_hash=corpus.content_hash,
        cached=cached,
        seconds=time.perf_counter() - started,
        runtime=runtime.name,
    )
    return runtime, corpus, tiles


def netvlad_fixes(ctx: RunContext, engines: list[Engine]) -> list[Fix]:
    vpr, clip = ctx.scenario.vpr, ctx.clip
    clip.need("frames", "the netvlad strategy")
    chosen = ctx.config.backbone()
    engine = next(e for e in engines if e.backbone.name == chosen.name)
    runtime, corpus, tiles = corpus_descriptors(ctx, engine)
    strategy = NetVladStrategy(runtime, vpr.input_px, tiles, engine.normalisation)
    sigma = corpus.size_m / math.sqrt(12.0)  # a tile-centre fix is uniform over the tile
    fixes, queries, thumbs = [], [], ThumbCollector(corpus)
    for i in query_frames(clip, vpr.rate_hz):
        t_s = float(clip.frames.t_s[i])
        start = time.perf_counter()
        image = _query_image(clip, clip.frames.read(i), t_s, corpus, vpr.align)
        desc = strategy.embed_query(image)
        top, scores = strategy.retrieve_topk(desc, vpr.top_k)
        latency_ms = (time.perf_counter() - start) * 1e3
        truth = _truth_at(clip, t_s)
        ctx.emit(
            "vpr",
            "query",
            frame=i,
            t_s=t_s,
            latency_ms=latency_ms,
            topk=[
                {
                    "tile": corpus.ids[j],
                    "score": float(s),
                    "centre_ne_m": corpus.centres_ne_m[j],
                    "footprint_ne_m": corpus.footprints_ne_m[j],
                }
                for j, s in zip(top, scores, strict=True)
            ],
            truth_ne_m=None if truth is None else truth[0][:2],
            descriptor={
                "shape": list(desc.shape),
                "dtype": str(desc.dtype),  # what retrieval sees, not the compute dtype
                "finite": bool(np.all(np.isfinite(desc))),
                "norm": float(np.linalg.norm(desc)),
            },
        )
        queries.append(desc.reshape(-1))
        thumbs.add(image, top[:3])
        best = corpus.centres_ne_m[top[0]]
        fixes.append(
            Fix(t_s, (float(best[0]), float(best[1])), sigma, corpus.ids[top[0]], latency_ms / 1e3)
        )
    _emit_spread(ctx, np.array(queries))
    thumbs.save(ctx.out_dir / "vpr_thumbs.npz")
    return fixes


class ThumbCollector:
    """Small copies of each query and its top-3 tiles, for the report's mosaic."""

    SIZE = 64

    def __init__(self, corpus: TileCorpus) -> None:
        self.corpus, self.frames, self.tiles = corpus, [], []

    def _small(self, image: np.ndarray) -> np.ndarray:
        step = max(1, image.shape[0] // self.SIZE)
        return image[::step, ::step][: self.SIZE, : self.SIZE]

    def add(self, query: np.ndarray, top: np.ndarray) -> None:
        self.frames.append(self._small(query))
        tiles = [self._small(self.corpus.image(int(j))) for j in top]
        tiles += [np.zeros_like(tiles[0])] * (3 - len(tiles))
        self.tiles.append(np.stack(tiles))

    def save(self, path: Path) -> None:
        if self.frames:
            np.savez_compressed(path, frames=np.stack(self.frames), tiles=np.stack(self.tiles))


def _emit_spread(ctx: RunContext, queries: np.ndarray) -> None:
    """How alike the query descriptors are: near 1.0 everywhere means they have collapsed."""
    if len(queries) < 2:
        return
    unit = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    cos = unit @ unit.T
    off = cos[~np.eye(len(cos), dtype=bool)]
    ctx.emit(
        "vpr",
        "spread",
        queries=len(queries),
        mean_cosine=float(off.mean()),
        min_cosine=float(off.min()),
    )
