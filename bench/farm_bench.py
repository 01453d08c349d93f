"""Board-farm figures: reservation wait, a remote engine's per-scenario overhead, 3 places vs 1,
and every scenario on every place (--farm-each-place) against the same scenarios on one place.

`python bench/farm_bench.py [--repeat N]` starts a real labgrid coordinator and exporters on
this machine (harness.testing.farm_lab): three places exporting this machine's engine, and a
stand-in board (a dockerd that cannot see the checkout) for the remote-engine figure. Prints
figures; asserts nothing. Needs root, dockerd and the e2e-runner image.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scratch import scratch

from harness.runners import image
from harness.runners.docker import DockerRunner
from harness.runners.local import SubprocessRunner
from harness.runners.places import Coordinator, identity
from harness.testing.farm_lab import Lab
from harness.testing.standin_engine import StandinEngine

REPO = Path(__file__).resolve().parents[1]
PROVISIONING = REPO / "scenarios" / "provisioning"
EMPTY = PROVISIONING / "empty-backbones.scenario.yaml"
LOCAL = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def _median_run(runner, repeat: int, tmp: Path) -> float:
    times = []
    for i in range(repeat):
        start = time.monotonic()
        result = runner.run(EMPTY, tmp / f"{runner.name}-{id(runner)}-{i}", 300)
        assert result.infra_error is None, result.stderr_tail
        times.append(time.monotonic() - start)
    return statistics.median(times)


def _pytest(lab: Lab, tags: str, workers: int, tmp: Path, *args: str) -> float:
    env = {**os.environ}
    env.pop("PYTEST_ADDOPTS", None)
    start = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         *(args or ["scenarios/provisioning"]),
         "-n", str(workers), "--lg-coordinator", lab.address, "--farm-tags", tags,
         "--harness-runs", str(tmp / "runs"), "--gate-ledger", "none"],
        cwd=REPO, env=env, check=True, capture_output=True,
    )  # fmt: skip
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tag = image.build(REPO).tag
    tmp = scratch("farm-bench-")
    with Lab(tmp / "lab") as lab:
        for i in (1, 2, 3):
            lab.add_board(f"p{i}", LOCAL, {"pool": "three", "target": "cpu"})
        waits = []
        for i in range(args.repeat * 3):
            coord = Coordinator(lab.address, identity(os.getpid(), f"bench{i}"))
            claim = coord.reserve({"pool": "three"}, 60)
            waits.append(claim.waited_s)
            coord.release(claim)
            coord.close()
        print(
            f"reservation wait (free place, reserve+poll+acquire): median "
            f"{statistics.median(waits) * 1000:.0f} ms over {len(waits)}"
        )
        one = _pytest(lab, "pool=three,name=p1", 1, tmp)
        three = _pytest(lab, "pool=three", 3, tmp)
        print(
            f"pytest scenarios/provisioning ({len(list(PROVISIONING.glob('*.yaml')))} "
            f"scenarios): one place {one:.1f} s, three places -n 3 {three:.1f} s"
        )
        two = [str(EMPTY), str(PROVISIONING / "missing-checkpoint.scenario.yaml")]
        single = _pytest(lab, "pool=three,name=p1", 1, tmp, *two)
        each = _pytest(lab, "pool=three", 3, tmp, *two, "--farm-each-place", "--dist", "loadgroup")
        print(
            f"2 scenarios, --farm-each-place on 3 places -n 3 (6 results) {each:.1f} s vs "
            f"the same 2 on one place (2 results) {single:.1f} s: x{each / single:.2f} the "
            "wall time for x3 the results (about x1 when each place is its own board)"
        )
    local = _median_run(SubprocessRunner(REPO), args.repeat, tmp)
    docker = _median_run(DockerRunner(REPO, image=tag), args.repeat, tmp)
    standin = StandinEngine([REPO, Path(tempfile.gettempdir())])
    board = standin.start()
    try:
        standin.load(tag)
        remote = _median_run(DockerRunner(REPO, engine=board, image=tag), args.repeat, tmp)
    finally:
        standin.stop()
    print(
        f"empty-backbones median wall: local {local:.2f} s, docker here {docker:.2f} s, "
        f"stand-in board {remote:.2f} s (remote overhead vs local {remote - local:+.2f} s)"
    )


if __name__ == "__main__":
    main()
