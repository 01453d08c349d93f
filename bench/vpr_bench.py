"""NetVLAD speed: embedding throughput per runtime beside a plain eager forward, the same-run
matmul roofline, and exact retrieval over random 4096-d tile sets.

    python bench/vpr_bench.py [--sizes 240 480] [--frames 4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from harness.config import Backbone
from harness.pipeline.api import Engine
from harness.pipeline.vpr.netvlad import NetVladVgg16, init_like_torchvision
from harness.pipeline.vpr.runtimes import make_runtime

GFLOP_200x300 = 36.6  # model card; conv cost scales with pixels


def gflop(px: int) -> float:
    return GFLOP_200x300 * px * px / (200 * 300)


def best_of(fn, repeat: int) -> float:
    fn()  # warm-up: the first pass is much slower
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[240, 480])
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    a = torch.rand(4096, 4096)
    mm = 2 * 4096**3 / best_of(lambda: a @ a, 3) / 1e9
    print(f"matmul 4096^2 fp32: {mm:.0f} GFLOP/s (roofline)")
    torch.manual_seed(0)
    model = NetVladVgg16().eval()
    init_like_torchvision(model)
    backbone = Backbone(name="b", weights_path=Path("x.pt"), runtime="pytorch-fp32")
    engine_dir = Path(tempfile.mkdtemp())
    for px in args.sizes:
        x = torch.rand(args.frames, 3, px, px)
        with torch.no_grad():
            ref = best_of(lambda: model(x), args.repeat)  # noqa: B023
        print(
            f"{px} px, batch {args.frames}: eager reference {args.frames / ref:.2f} frames/s, "
            f"{gflop(px) * args.frames / ref:.0f} GFLOP/s"
        )
        for runtime in ("pytorch-fp32", "onnxruntime"):
            eng = Engine(
                backbone.model_copy(update={"runtime": runtime}), Path("x.pt"), f"bench{px}", model
            )
            rt, check = make_runtime(eng, px, engine_dir, allow_fp32_fallback=False)
            if rt is None:
                print(f"  {runtime}: unavailable ({check.detail})")
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
