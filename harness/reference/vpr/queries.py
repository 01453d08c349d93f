"""The netvlad VPR strategy: embed the tile corpus (cached) and query frames, retrieve top-K
tiles by inner product, and turn each query's best tile into a position fix."""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import time
from pathlib import Path

import numpy as np

from harness import cache
from harness.atomic import atomic_path, build_lock
from harness.build_times import timed
from harness.clip import Clip, TileCorpus
from harness.digest import file_digest
from harness.errors import ClipError
from harness.reference.attitude import Pose, require_telemetry, telemetry_pose
from harness.reference.checkpoint_file import record_check
from harness.reference.provisioned import Engine
from harness.reference.runtimes import Runtime, calibration_tiles, make_runtime
from harness.reference.sources import hash_sources
from harness.reference.vpr.align import align_north_up
from harness.reference.vpr.preprocess import to_input
from harness.run.measured import figures, query_frames, spread
from harness.run.stage import Fix, RunContext

log = logging.getLogger(__name__)
BATCH = 16
DESCRIPTOR_SOURCES = (
    "reference/vpr/preprocess.py",
    "reference/vpr/netvlad.py",
    "reference/runtimes.py",
    "reference/openvino_runtime.py",
    "reference/engine_parts.py",
)


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
    """Corpus descriptors, cached by (checkpoint sha256, corpus hash, runtime and its engine
    build, input size, the descriptor code's source): a cached entry from another engine or
    other preprocessing once gave a scenario stale tiles and a wrong recall."""
    key = f"{engine.sha256}:{corpus.content_hash}:{runtime.name}:{runtime.build}:{input_px}"
    key += f":{_descriptor_code()}"
    if engine.normalisation is not None:  # other preprocessing, other descriptors
        key += f":{sorted(engine.normalisation.items())}"
    path = cache_dir / "descriptors" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npy"
    if path.exists():
        cache.touch(path)  # recently used: the cache's bound evicts others first
        return np.load(path), True
    what = f"{len(corpus.ids)} tiles at {input_px} px, {runtime.name}"
    with build_lock(path), timed("descriptors", what):  # two workers: one computes, one waits
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
        with atomic_path(path) as tmp:
            np.save(tmp, desc)
        return desc, False


@functools.cache
def _descriptor_code() -> str:
    """Digest of the source that turns a tile into a descriptor (preprocessing, model, runtimes)."""
    h = hashlib.sha256()
    hash_sources(h, DESCRIPTOR_SOURCES)
    return h.hexdigest()[:12]


def _query_image(
    clip: Clip, frame: np.ndarray, pose: Pose | None, corpus: TileCorpus
) -> np.ndarray:
    """The frame warped north-up at the tiles' scale with `pose`; as it is without one."""
    if pose is None:
        return frame
    cam = clip.camera
    intr = {"fx": cam.fx, "fy": cam.fy, "cx": cam.cx, "cy": cam.cy}
    tile_px = corpus.image(0).shape[0]
    return align_north_up(
        frame, intr, cam.r_body_cam, pose.q_wxyz, pose.height_m, corpus.size_m, tile_px
    )


def corpus_descriptors(ctx: RunContext, engine: Engine) -> tuple[Runtime, TileCorpus, np.ndarray]:
    """The engine's runtime and the clip's tile descriptors (cached), both recorded: the
    provisioning a run pays before its first query."""
    vpr = ctx.scenario.vpr
    runtime, check = make_runtime(
        engine,
        vpr.input_px,
        ctx.cache_dir / "engines",
        vpr.fallback_runtime,
        tiles=None if ctx.corpus is None else lambda: calibration_tiles(ctx.corpus),
    )
    record_check(ctx, engine.backbone.name, check)
    if runtime.engine_file is not None:  # what ran is part of what was judged
        weights = runtime.engine_file.with_suffix(".bin")
        ctx.artifact(
            "engine",
            runtime.name,
            runtime.engine_file,
            file_digest(weights, ctx.cache_dir) if weights.is_file() else None,
            pinned=False,  # no configured digest: its name says what built it
            figures=check.figures,
        )
    corpus = ctx.corpus
    if corpus is None:
        raise ClipError(
            f"{ctx.clip.manifest.get('_path', 'the clip')}: the netvlad strategy needs a tile "
            "corpus, and neither the clip nor the scenario has one; add `corpus: {kind: "
            "geotiff|xyz, path: ...}` to the scenario"
        )
    started = time.perf_counter()
    tiles, cached = tile_descriptors(runtime, engine, corpus, vpr.input_px, ctx.cache_dir)
    for gone in cache.bound(ctx.cache_dir):  # engines and descriptors past the bound
        log.info("cache bound: evicted %s %s (%d bytes)", gone.kind, gone.key, gone.bytes)
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


class NetVladQueries:
    """The query frames at `vpr.rate_hz`, each embedded, retrieved and turned into a fix when
    asked, with the attitude and height to align it by (None: embedded as it is).

    `times` are known up front, so a filter can run up to each one and lend its own estimate
    for the alignment (`vpr.align_source: filter`).
    """

    def __init__(self, ctx: RunContext, engines: list[Engine]) -> None:
        # One BLAS thread for this run's numpy: after each call an OpenBLAS worker spins for
        # ~0.1 s, and that took a core from the runtime (int8 at 240 px on 2 cores: 55 ms a
        # query alone, 90 ms after each retrieval's matrix product).
        from threadpoolctl import threadpool_limits

        threadpool_limits(1, user_api="blas")
        vpr, clip = ctx.scenario.vpr, ctx.clip
        clip.need("frames", "the netvlad strategy")
        chosen = ctx.settings.config.backbone()
        engine = next(e for e in engines if e.backbone.name == chosen.name)
        runtime, corpus, tiles = corpus_descriptors(ctx, engine)
        self.ctx, self.clip, self.corpus, self.runtime = ctx, clip, corpus, runtime
        self.strategy = NetVladStrategy(runtime, vpr.input_px, tiles, engine.normalisation)
        self.sigma = corpus.size_m / math.sqrt(12.0)  # a tile-centre fix is uniform over the tile
        self.frames = query_frames(clip.frames.t_s, vpr.rate_hz)
        self.times = [float(clip.frames.t_s[i]) for i in self.frames]
        self._released = ctx.released(pixels_of=set(self.frames))  # pixels on the clock
        self.aligned = vpr.align == "north-up"
        self.queries: list[np.ndarray] = []
        self.thumbs = ThumbCollector(corpus)

    def fix(self, n: int, pose: Pose | None) -> Fix | None:
        """Query `n`: None (recorded as skipped) when alignment is on and there is no pose."""
        i, t_s, corpus = self.frames[n], self.times[n], self.corpus
        pose = pose if self.aligned else None
        if self.aligned and pose is None:
            self.ctx.emit(
                "vpr", "skip", frame=i, t_s=t_s, reason="no attitude and height at this time"
            )
            return None
        start = time.perf_counter()
        image = _query_image(self.clip, self._frame(i), pose, corpus)
        desc = self.strategy.embed_query(image)
        top, scores = self.strategy.retrieve_topk(desc, self.ctx.scenario.vpr.top_k)
        latency_ms = (time.perf_counter() - start) * 1e3
        self.ctx.emit(
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
            align=None if pose is None else pose.as_event(),
            descriptor=figures(desc),  # what retrieval sees, not the compute dtype
        )
        self.queries.append(desc.reshape(-1))
        self.thumbs.add(image, top[:3])
        best = corpus.centres_ne_m[top[0]]
        z = (float(best[0]), float(best[1]))
        return Fix(t_s, z, self.sigma, corpus.ids[top[0]], latency_ms / 1e3)

    def _frame(self, i: int) -> np.ndarray:
        """Frame i's pixels, the clock run on to its release (queries come in time order)."""
        for sample in self._released:
            if sample.release.kind == "frame" and sample.release.index == i:
                return sample.pixels
        raise IndexError(f"frame {i} was never released: queries must come in time order")

    def close(self) -> None:
        """The spread of the query descriptors and the report's thumbnails."""
        _emit_spread(self.ctx, np.array(self.queries))
        self.thumbs.save(self.ctx.out_dir / "vpr_thumbs.npz")


def netvlad_fixes(ctx: RunContext, engines: list[Engine]) -> list[Fix]:
    """Every query's fix, aligned (if asked) from the clip's telemetry stream."""
    vpr, clip = ctx.scenario.vpr, ctx.clip
    if vpr.align == "north-up":
        require_telemetry(
            clip,
            "vpr.align: north-up (align_source: telemetry)",
            "use a bundle with a telemetry stream (docs/clip.md), or set vpr.align: none",
        )
    queries = NetVladQueries(ctx, engines)
    fixes = []
    for n, t_s in enumerate(queries.times):
        pose = telemetry_pose(clip, t_s) if queries.aligned else None
        fix = queries.fix(n, pose)
        if fix is not None:
            fixes.append(fix)
    queries.close()
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
    if (fields := spread(list(queries))) is not None:
        ctx.emit("vpr", "spread", **fields)
