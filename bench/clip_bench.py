"""Benchmark: the default clip + corpora from nothing, a cached make, the IMU read rate.

Run: PYTHONPATH=. python bench/clip_bench.py [--preset derkachi-60s] [--frame-px 480].
"""

from __future__ import annotations

import argparse
import resource
import time

from scratch import scratch

from harness.clip import ClipRef, Segment, load_clip
from harness.clip.bundle import read_bundle, read_table
from harness.synth.make import make_synth
from harness.synth.spec import SynthSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="derkachi-60s")
    parser.add_argument("--frame-px", type=int, help="override the frame size, e.g. 480")
    args = parser.parse_args()
    cache = scratch("clip-bench-")
    spec = SynthSpec(preset=args.preset, overrides={"frame_px": args.frame_px})
    t = time.perf_counter()
    folder = make_synth(spec, cache)
    cold = time.perf_counter() - t
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    t = time.perf_counter()
    clip = load_clip(ClipRef(synth=spec), Segment(), cache)
    clip.corpus().image(0)
    warm = time.perf_counter() - t
    entry = read_bundle(folder, verify=False).manifest["streams"]["imu"]
    reps, t = 200, time.perf_counter()
    for _ in range(reps):
        read_table(folder, entry, salvage=False)
    rate = reps * entry["samples"] / (time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(len(clip.frames)):
        clip.frames.read(i)
    fps = len(clip.frames) / (time.perf_counter() - t)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20
    print(
        f"preset               {args.preset} ({clip.duration_s:.0f} s, "
        f"{len(clip.frames)} frames, "
        f"{len(clip.corpus())} grid + {len(clip.corpus('xyz'))} xyz tiles, {size:.0f} MiB)"
    )
    print(f"make from nothing    {cold:6.2f} s   (target < 60 s)")
    print(f"peak RSS             {rss_gib:6.2f} GiB (target < 2 GiB)")
    print(f"cached make + load   {warm:6.3f} s   (target < 1 s)")
    print(f"IMU stream read      {rate:9.3g} samples/s (target > 1e6)")
    print(f"sequential decode    {fps:6.0f} frames/s")


if __name__ == "__main__":
    main()
