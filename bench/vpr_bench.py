"""NetVLAD speed: embedding throughput per runtime beside a plain eager forward, the same-run
matmul roofline, exact retrieval over random 4096-d tile sets, and cold/warm provisioning of
the default stand-in corpus through the VPR stage's own code (targets: cold < 2 min, warm < 5 s).

    python bench/vpr_bench.py [--sizes 240 480] [--frames 4] [--threads N] [--no-provisioning]
                              [--runtimes openvino-int8 ...] [--recall WEIGHTS.pt]

openvino-int8 is calibrated on the stand-in corpus's tiles (as a scenario calibrates on its
own); its target is 2x the eager forward on a VNNI CPU, 1.5x on AVX2 only (the ISA is printed).
`--recall` compares recall@1 of eager fp32 and openvino-int8 for a checkpoint on the held-out
flight (seed 7, north-up queries, at the checkpoint's 160 px).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import time
from pathlib import Path

import numpy as np
import torch
from scratch import scratch

from harness.reference.cpu import int8_isa
from harness.reference.operator_config import Backbone
from harness.reference.provisioned import Engine
from harness.reference.runtimes import make_runtime
from harness.reference.vpr.netvlad import NetVladVgg16, init_like_torchvision
from harness.run.stage import RunContext

GFLOP_200x300 = 36.6  # model card; conv cost scales with pixels
REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCENARIO = REPO / "scenarios" / "vpr" / "derkachi-scaffold.scenario.yaml"
COLD_TARGET_S, WARM_TARGET_S = 120.0, 5.0
RUNTIMES = (  # each says why where it cannot run
    "pytorch-fp32",
    "pytorch-fp16",
    "onnxruntime",
    "openvino-fp32",
    "openvino-int8",
    "tensorrt",
)
INT8_TARGET = {"avx512_vnni": 2.0, "avx_vnni": 2.0}  # x the eager fp32 forward; 1.5 elsewhere


def gflop(px: int) -> float:
    return GFLOP_200x300 * px * px / (200 * 300)


def best_of(fn, repeat: int) -> float:
    fn()  # warm-up: the first pass is much slower
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


class _Events:
    """Stands in for the run record: keeps the events the stage emits."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, dict]] = []

    def event(self, stage: str, type: str, **fields) -> None:
        self.rows.append((stage, type, fields))


def provisioning(scenario: Path, cache_dir: Path) -> None:
    """Cold (empty descriptor cache) then warm provisioning of the scenario's tile corpus with
    the full-size scaffold: the reference pipeline's provision (sha256, weights-only and strict
    load) and the VPR stage's corpus_descriptors (runtime, embedding, on-disk cache)."""
    from harness.clip import load_clip
    from harness.reference.models.scaffold import make_scaffold
    from harness.reference.pipeline import ReferencePipeline
    from harness.reference.vpr.queries import corpus_descriptors
    from harness.scenario.load import load

    loaded = load(scenario, REPO)
    clip = load_clip(loaded.scenario.clip, loaded.scenario.segment, cache_dir)
    work = scratch("vpr-bench-")
    start = time.perf_counter()
    weights = loaded.settings.config.backbone().weights_path  # relative: resolved against `work`
    make_scaffold(work / weights)
    print(f"full-size scaffold written in {time.perf_counter() - start:.1f} s (once, not timed)")
    loaded = dataclasses.replace(loaded, root=work)
    for label, target in (("cold", COLD_TARGET_S), ("warm", WARM_TARGET_S)):
        events = _Events()
        ctx = RunContext(loaded, events, work / "cache", work / "out", clip=clip)
        ctx.flush_pending()
        start = time.perf_counter()
        engines = ReferencePipeline().provision(ctx)
        loaded_s = time.perf_counter() - start
        runtime, corpus, _ = corpus_descriptors(ctx, engines[0])
        total = time.perf_counter() - start
        emb = next(f for st, ty, f in events.rows if (st, ty) == ("vpr", "corpus"))
        print(
            f"provisioning {label}: {total:.1f} s ({'meets' if total < target else 'MISSES'} "
            f"< {target:.0f} s): checkpoint verify+load {loaded_s:.1f} s, "
            f"{len(corpus)} tiles at {loaded.scenario.vpr.input_px} px on {runtime.name} "
            f"{emb['seconds']:.1f} s ({'read from cache' if emb['cached'] else 'embedded'})"
        )


def stand_in_tiles(args: argparse.Namespace):
    """The default scenario's corpus tiles (int8 calibration), loaded when first asked for."""

    def tiles() -> np.ndarray:
        from harness.clip import load_clip
        from harness.reference.runtimes import calibration_tiles
        from harness.scenario.load import load

        loaded = load(args.scenario, REPO)
        clip = load_clip(loaded.scenario.clip, loaded.scenario.segment, args.cache_dir)
        return calibration_tiles(clip.corpus())

    return tiles


def recall_rows(weights: Path, cache_dir: Path, seed: int = 7, input_px: int = 160) -> None:
    """Recall of eager fp32 and openvino-int8 (calibrated on the flight's corpus) on one flight."""
    from harness.digest import file_digest
    from harness.reference.commands.train import load_weights
    from harness.reference.models.evaluate import corpus_images, recall_table
    from harness.reference.models.trainset import clip_flight
    from harness.reference.runtimes import calibration_tiles
    from harness.reference.vpr.preprocess import to_input

    geo = clip_flight("derkachi-60s", seed, cache_dir, alignment="north-up")
    tiles = corpus_images(geo.corpus)
    model = load_weights(weights).eval()
    backbone = Backbone(name="b", weights_path=weights, runtime="openvino-int8")
    engine = Engine(backbone, weights, file_digest(weights), model)
    int8, check = make_runtime(
        engine, input_px, scratch("vpr-bench-"), tiles=lambda: calibration_tiles(geo.corpus)
    )
    if int8 is None:
        print(f"recall: openvino-int8 unavailable: {check.detail}")
        return
    print(f"recall check, {weights.name}: {check.detail}")

    def fp32(x: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return model(x)["vlad_descriptor"].numpy()

    for name, embed in (("eager fp32", fp32), ("openvino-int8", int8.embed)):
        q = torch.from_numpy(
            np.concatenate(
                [
                    embed(to_input(geo.queries[i : i + 8], input_px))
                    for i in range(0, len(geo.queries), 8)
                ]
            )
        )
        t = torch.from_numpy(
            np.concatenate(
                [embed(to_input(tiles[i : i + 8], input_px)) for i in range(0, len(tiles), 8)]
            )
        )
        for row in recall_table(name, q, t, geo, 75.0):
            r = row.recall
            print(f"  {name:<14} {row.rule:<10} R@1 {r[1]:.2f}  R@5 {r[5]:.2f}  ({row.queries} q)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[240, 480])
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    parser.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO)
    parser.add_argument("--cache-dir", type=Path, default=REPO / ".cache", help="synth clips")
    parser.add_argument("--provisioning", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=RUNTIMES)
    parser.add_argument("--recall", type=Path, help="checkpoint for the fp32-vs-int8 recall rows")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (others' work slows this)"
    )
    isa = int8_isa()
    print(f"CPU int8 path: {isa} (int8 target: {INT8_TARGET.get(isa, 1.5)}x the eager forward)")
    if args.recall:
        recall_rows(args.recall, args.cache_dir)
    if args.provisioning:
        provisioning(args.scenario, args.cache_dir)
    a = torch.rand(4096, 4096)
    mm = 2 * 4096**3 / best_of(lambda: a @ a, 3) / 1e9
    print(f"matmul 4096^2 fp32: {mm:.0f} GFLOP/s (roofline)")
    torch.manual_seed(0)
    model = NetVladVgg16().eval()
    init_like_torchvision(model)
    device = "cuda" if torch.cuda.is_available() else "cpu"  # where the runtimes run, too
    print(f"device: {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}")
    reference = copy.deepcopy(model).to(device)
    backbone = Backbone(name="b", weights_path=Path("x.pt"), runtime="pytorch-fp32")
    engine_dir = scratch("vpr-bench-")
    for px in args.sizes:
        x = torch.rand(args.frames, 3, px, px)
        with torch.no_grad():
            ref = best_of(lambda: reference(x.to(device)), args.repeat)  # noqa: B023
        print(
            f"{px} px, batch {args.frames}: eager reference {args.frames / ref:.2f} frames/s, "
            f"{gflop(px) * args.frames / ref:.0f} GFLOP/s"
        )
        for runtime in args.runtimes:
            eng = Engine(
                backbone.model_copy(update={"runtime": runtime}),
                Path("x.pt"),
                f"bench{px}",
                copy.deepcopy(model),  # a runtime may cast or move its model
            )
            start = time.perf_counter()
            rt, check = make_runtime(eng, px, engine_dir, tiles=stand_in_tiles(args))
            if runtime.startswith("openvino"):
                print(f"  {runtime}: built in {time.perf_counter() - start:.0f} s; {check.detail}")
            if rt is None:
                print(f"  {runtime}: unavailable: {check.detail.removeprefix(runtime + ': ')}")
                continue
            t = best_of(lambda: rt.embed(x), args.repeat)  # noqa: B023
            g = gflop(px) * args.frames / t
            print(
                f"  {runtime:<13} {args.frames / t:.2f} frames/s, {g:.0f} GFLOP/s, "
                f"{ref / t:.2f}x the reference, {g / mm:.2f} of the matmul roofline"
            )
    rng = np.random.default_rng(0)
    for n in (10_000, 100_000):
        db = rng.standard_normal((n, 4096), dtype=np.float32)
        db /= np.linalg.norm(db, axis=1, keepdims=True)
        q = db[:32] + 0.01
        single = best_of(lambda: np.argpartition(-(db @ q[0]), 20)[:20], 3)  # noqa: B023
        batch = best_of(lambda: np.argpartition(-(q @ db.T), 20, axis=1)[:, :20], 2)  # noqa: B023
        print(
            f"retrieval top-20 over {n} x 4096: {single * 1e3:.1f} ms single, "
            f"{batch / 32 * 1e3:.2f} ms per query in a batch of 32"
        )


if __name__ == "__main__":
    main()
