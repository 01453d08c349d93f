"""The product suite's wall time: `pytest scenarios/` warm (this checkout's caches) and cold (a
fresh clone: no checkpoints, no clips, no descriptor cache), with the per-scenario split, beside
a fixed CPU workload timed in the same run (the host is shared: read the ratios).

    python bench/suite_bench.py [--no-warm] [--cold] [--warm-up] [--workers N] [-k EXPR]

Targets on 2 cores: cold <= 5 min, warm <= 60 s. The cold clone runs with this interpreter
(the same installed packages), so it measures the suite's own cold work: training the default
checkpoint, the scaffold, rendering the stand-in clips, embedding the corpora.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from scratch import scratch
from yardstick import reference_workload

REPO = Path(__file__).resolve().parents[1]
TARGETS_S = {"warm": 60.0, "cold": 300.0}


def run_suite(root: Path, label: str, extra: list[str]) -> tuple[float, list[tuple[str, float]]]:
    """Wall time of `pytest scenarios/` in `root` and each scenario's own time (JUnit XML)."""
    junit = scratch("suite-junit-") / "suite.xml"
    env = {**os.environ, "PYTHONPATH": str(root)}
    cmd = [sys.executable, "-m", "pytest", "scenarios/", "-q", f"--junitxml={junit}", *extra]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    tail = done.stdout.strip().splitlines()[-1:] or ["(no output)"]
    print(f"{label}: pytest exit {done.returncode}, {tail[0]}")
    if done.returncode not in (0, 1):
        print(done.stdout[-2000:], done.stderr[-2000:])
    cases = []
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            cases.append((case.get("name", "?"), float(case.get("time", 0.0))))
    return wall, cases


def fresh_clone() -> Path:
    """A clone of this checkout's HEAD with nothing git-ignored: a new machine's first run."""
    target = scratch("suite-cold-") / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(target)], check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    subprocess.run(["git", "checkout", "-q", head.stdout.strip()], cwd=target, check=True)
    return target


def report(
    label: str, wall: float, cases: list[tuple[str, float]], yardstick: float, keyword: str | None
) -> None:
    target = TARGETS_S[label]
    verdict = "meets" if wall <= target else "MISSES"
    selection = f" -k {keyword!r} (a subset: the target is for the whole suite)" if keyword else ""
    print(
        f"{label} pytest scenarios/{selection}: {wall:.1f} s ({verdict} <= {target:.0f} s); "
        f"{wall / yardstick:.0f}x the reference workload"
    )
    inside = sum(t for _, t in cases)
    for name, seconds in sorted(cases, key=lambda c: -c[1]):
        print(f"  {seconds:7.1f} s  {name}")
    print(f"  {wall - inside:7.1f} s  outside the scenarios (start-up, collection, session setup)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warm", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--cold", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--warm-up", action="store_true", help="one untimed run before warm")
    parser.add_argument("--workers", type=int, help="pytest-xdist workers (-n)")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression")
    args = parser.parse_args()
    extra = [] if args.workers is None else ["-n", str(args.workers)]
    extra += [] if args.keyword is None else ["-k", args.keyword]
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (others' work slows this)")
    yardstick = reference_workload()
    print(f"reference workload (fixed numpy, one thread): {yardstick:.2f} s at the start")
    if args.cold:
        clone = fresh_clone()
        wall, cases = run_suite(clone, "cold", extra)
        report("cold", wall, cases, yardstick, args.keyword)
    if args.warm:
        if args.warm_up:
            run_suite(REPO, "warm-up", extra)  # fills whatever the checkout still lacks
        wall, cases = run_suite(REPO, "warm", extra)
        report("warm", wall, cases, yardstick, args.keyword)
    print(f"reference workload at the end: {reference_workload():.2f} s")


if __name__ == "__main__":
    main()
