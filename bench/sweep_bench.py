"""The sweep scenarios' figures: the rate each stack sustains on this host, per stage, beside
references measured in the same run (the host is shared: read the ratios).

    python bench/sweep_bench.py [SCENARIO ...]

Default: `scenarios/process/ring-stack-sweep` and `scenarios/vpr/derkachi-trained-sweep`. Each
runs as pytest runs it (the run driver, then the host's classification) into a scratch folder.
Printed per scenario: the verdict, each stage's sustained speed and query rate, and per rate
the p50/p95 latency from the frame's due time, late and never frames, and how late the clock
itself got the frames out. The references beside them:

- the feed ceiling: how fast this host builds the clip's release stream (the IMU, telemetry and
  frame lines a process stack is sent), in multiples of real time, decoding each frame (the
  first rate) and with the frames from the sweep's store (a process stack's later rates; the
  link itself is not timed): a process stack cannot be shown to sustain more than the clock
  can send;
- the stack's own answer time in the run at the scenario's pace (p50 of `vpr/query`), and the
  query rate it would allow back to back (1000 / p50 ms);
- the fixed numpy workload (bench/yardstick.py), before and after.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from scratch import scratch
from yardstick import reference_workload

from harness.gates import conclude
from harness.record import read_record
from harness.run.driver import run

REPO = Path(__file__).resolve().parents[1]
DEFAULT = [
    REPO / "scenarios" / "process" / "ring-stack-sweep.scenario.yaml",
    REPO / "scenarios" / "vpr" / "derkachi-trained-sweep.scenario.yaml",
]


def feed_ceiling(path: Path, decoded: bool) -> float:
    """The clip's duration over the time to build its whole release stream (x real time):
    `decoded`, each frame decoded as the first replay does; else as later replays of a
    process stack release it, frames linked from the sweep's store instead."""
    from harness.clip import load_clip
    from harness.process.launch import release_line
    from harness.run import feed
    from harness.scenario.load import load

    loaded = load(path, REPO)
    clip = load_clip(loaded.scenario.clip, loaded.scenario.segment, REPO / ".cache", root=REPO)
    start = time.perf_counter()
    for release in feed.schedule(clip):
        frame = release.kind == "frame"
        release_line(feed.Sample(release) if frame and not decoded else feed.sample(clip, release))
    return clip.duration_s / (time.perf_counter() - start)


def one(path: Path, out: Path) -> None:
    start = time.perf_counter()
    record_path = run(path, out, root=REPO, cache_dir=REPO / ".cache")
    verdict = conclude(record_path)
    took = time.perf_counter() - start
    record = read_record(record_path)
    print(f"\n{path.relative_to(REPO)}: {verdict.gate} ({verdict.outcome}) in {took:.1f} s")
    if verdict.gate in ("infra-error", "config-error", "no-data"):
        print(f"  {verdict.reason}")
    sweep = (verdict.metrics.get("latency-budget") or {}).get("sweep") or {}
    for stage, figures in sweep.items():
        speed, hz = figures.get("sustained_speed"), figures.get("sustained_query_hz")
        said = "no evidence" if speed is None else f"x{speed:g} ({hz:g} queries/s)"
        print(f"  {stage}: sustains {said}")
        for s in figures["steps"]:
            p50, p95, lag = s["p50_ms"], s["p95_ms"], s.get("release_lag_ms")
            print(
                f"    x{s['speed']:<5g} {s['status']:<8} p50 {p50 or float('nan'):8.1f} ms  "
                f"p95 {p95 or float('nan'):8.1f} ms  late {s['late']:3d}  never "
                f"{s['never']:3d} of {s['asked']}  clock lag {lag or 0:7.1f} ms"
            )
        if skipped := figures.get("not_replayed"):
            print(f"    not replayed: {', '.join(f'x{v:g}' for v in skipped)} (settled below)")
    own = [q["latency_ms"] for q in record.select("vpr", "query") if q.get("latency_ms")]
    if own:
        p50 = float(np.median(own))
        print(
            f"  reference: the run's own answer p50 {p50:.1f} ms at the scenario's pace "
            f"(back to back: {1e3 / p50:.0f} queries/s)"
        )
    print(
        f"  reference: feed ceiling x{feed_ceiling(path, True):.0f} real time on this host "
        f"decoding frames (the first rate), x{feed_ceiling(path, False):.0f} with them from "
        "the store (a process stack's later rates)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenarios", nargs="*", type=Path, default=DEFAULT)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (others' work slows this)")
    print(f"reference workload (fixed numpy, one thread): {reference_workload():.2f} s")
    folder = scratch("sweep-")
    for i, path in enumerate(args.scenarios):
        one(path.resolve(), folder / f"run{i}")
    print(f"\nreference workload at the end: {reference_workload():.2f} s")


if __name__ == "__main__":
    sys.exit(main())
