"""The product suite's time: `pytest scenarios/` warm (this checkout's caches) and cold (a
fresh clone: no checkpoints, no clips, no descriptor cache), wall and CPU seconds, with the
per-scenario split and, cold, where the time went (each first-use build, `harness.build_times`),
beside a fixed CPU workload timed in the same run (the host is shared: read the ratios, and
the CPU seconds, which others' work does not inflate).

    python bench/suite_bench.py [--no-warm] [--cold [--bootstrap]] [--warm-up] [--workers N]
                                [-k EXPR]

Targets on 2 cores: the README's first command on a fresh clone (bootstrap and cold `pytest
scenarios/`) <= 180 s, warm <= 60 s. Without `--bootstrap` the cold clone runs with this
interpreter (the same installed packages) and the bootstrap figure is left out; with it, the
clone runs `scripts/bootstrap` into its own .venv first (pip's own cache is the host's).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from scratch import scratch
from yardstick import reference_workload

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.build_times import BUILD_TIMES_ENV  # noqa: E402

TARGETS_S = {"warm": 60.0, "cold": 180.0}  # cold: bootstrap and pytest scenarios/ together


def children_cpu() -> float:
    """CPU seconds (user + system) of every child process waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(cmd: list[str], **kwargs) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run `cmd`; its result, wall seconds and CPU seconds (its whole process tree)."""
    cpu, start = children_cpu(), time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    return done, time.perf_counter() - start, children_cpu() - cpu


def run_suite(
    root: Path, label: str, extra: list[str], python: str = sys.executable
) -> tuple[float, float, list[tuple[str, float]], list[dict]]:
    """Wall and CPU seconds of `pytest scenarios/` in `root`, each scenario's own time (JUnit
    XML) and the first-use builds it timed (harness.build_times)."""
    junit = scratch("suite-junit-") / "suite.xml"
    builds = junit.with_name("builds.jsonl")
    env = {**os.environ, "PYTHONPATH": str(root), BUILD_TIMES_ENV: str(builds)}
    cmd = [python, "-m", "pytest", "scenarios/", "-q", f"--junitxml={junit}", *extra]
    done, wall, cpu = timed_run(cmd, cwd=root, env=env)
    tail = done.stdout.strip().splitlines()[-1:] or ["(no output)"]
    print(f"{label}: pytest exit {done.returncode}, {tail[0]}")
    if done.returncode not in (0, 1):
        print(done.stdout[-2000:], done.stderr[-2000:])
    cases = []
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            cases.append((case.get("name", "?"), float(case.get("time", 0.0))))
    lines = builds.read_text().splitlines() if builds.exists() else []
    return wall, cpu, cases, [json.loads(line) for line in lines]


def bootstrap(root: Path) -> tuple[float, float, str]:
    """Run the clone's scripts/bootstrap (its own .venv); wall, CPU and the venv's python."""
    done, wall, cpu = timed_run(["scripts/bootstrap"], cwd=root)
    print(f"bootstrap: exit {done.returncode}, {wall:.1f} s wall, {cpu:.1f} s CPU")
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:])
        sys.exit(1)
    return wall, cpu, str(root / ".venv" / "bin" / "python")


def fresh_clone() -> Path:
    """A clone of this checkout's HEAD with nothing git-ignored: a new machine's first run."""
    target = scratch("suite-cold-") / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(target)], check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    subprocess.run(["git", "checkout", "-q", head.stdout.strip()], cwd=target, check=True)
    return target


def report(
    label: str,
    wall: float,
    cpu: float,
    cases: list[tuple[str, float]],
    yardstick: float,
    keyword: str | None,
    setup: tuple[float, float] | None = None,
) -> None:
    """The figure against its target and the yardstick; `setup` (bootstrap's wall and CPU
    seconds) counts towards a cold target."""
    target = TARGETS_S[label]
    total = wall + (setup[0] if setup else 0.0)
    verdict = "meets" if total <= target else "MISSES"
    selection = f" -k {keyword!r} (a subset: the target is for the whole suite)" if keyword else ""
    what = "bootstrap + pytest scenarios/" if setup else "pytest scenarios/"
    left_out = " (bootstrap not run: --bootstrap adds it)" if label == "cold" and not setup else ""
    print(
        f"{label} {what}{selection}: {total:.1f} s wall ({verdict} <= {target:.0f} s{left_out}), "
        f"{cpu + (setup[1] if setup else 0.0):.1f} s CPU; "
        f"{total / yardstick:.0f}x the reference workload"
    )
    inside = sum(t for _, t in cases)
    for name, seconds in sorted(cases, key=lambda c: -c[1]):
        print(f"  {seconds:7.1f} s  {name}")
    print(f"  {wall - inside:7.1f} s  outside the scenarios (start-up, collection, session setup)")


def breakdown(
    wall: float, cpu: float, builds: list[dict], setup: tuple[float, float] | None
) -> None:
    """Where a cold run's time went: bootstrap, each kind of first-use build, and the rest
    (the scenarios themselves, start-up, collection)."""
    print("where the cold run's time went (wall s, CPU s, builds):")
    if setup:
        print(f"  {setup[0]:7.1f} {setup[1]:7.1f}       bootstrap")
    spent_wall = spent_cpu = 0.0
    for kind in sorted(
        {b["kind"] for b in builds},
        key=lambda k: -sum(b["cpu_s"] for b in builds if b["kind"] == k),
    ):
        mine = [b for b in builds if b["kind"] == kind]
        w, c = sum(b["wall_s"] for b in mine), sum(b["cpu_s"] for b in mine)
        spent_wall, spent_cpu = spent_wall + w, spent_cpu + c
        print(f"  {w:7.1f} {c:7.1f} {len(mine):4d}  {kind}")
        for b in sorted(mine, key=lambda b: -b["cpu_s"])[:6]:
            print(f"          {b['wall_s']:7.1f} {b['cpu_s']:7.1f}  {b['what']}")
    rest = "the rest: the scenarios themselves, start-up, collection"
    if spent_wall > wall:  # a build in the background (training) ran beside the scenarios
        print(f"     (n/a) {cpu - spent_cpu:7.1f}       {rest} (builds overlapped them)")
    else:
        print(f"  {wall - spent_wall:7.1f} {cpu - spent_cpu:7.1f}       {rest}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warm", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--cold", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--bootstrap", action="store_true", help="cold: run scripts/bootstrap too")
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
        setup, python = None, sys.executable
        if args.bootstrap:
            boot_wall, boot_cpu, python = bootstrap(clone)
            setup = (boot_wall, boot_cpu)
        wall, cpu, cases, builds = run_suite(clone, "cold", extra, python)
        report("cold", wall, cpu, cases, yardstick, args.keyword, setup)
        breakdown(wall, cpu, builds, setup)
    if args.warm:
        if args.warm_up:
            run_suite(REPO, "warm-up", extra)  # fills whatever the checkout still lacks
        wall, cpu, cases, _ = run_suite(REPO, "warm", extra)
        report("warm", wall, cpu, cases, yardstick, args.keyword)
    print(f"reference workload at the end: {reference_workload():.2f} s")


if __name__ == "__main__":
    main()
