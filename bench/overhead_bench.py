"""Harness overhead per scenario, fresh process vs preloaded runner: prints figures only.

    python bench/overhead_bench.py [--repeat N]

For an oracle ESKF scenario and a provisioning scenario, runs each with the local runner in a
fresh process per run (HARNESS_PRELOAD=0) and forked from a preloaded process, alternating,
and prints the median wall time (the run plus the host's classification: what a scenario
waits for before its verdict), the stack's compute (the record's run/compute event) and the
harness overhead (wall minus compute) against the target: overhead <= 5 % of the compute
+ 0.5 s. A fixed numpy workload is timed in the same session, so figures from a busy host
can be told apart from a slow harness.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from yardstick import reference_workload  # noqa: E402

from harness.record import read_record  # noqa: E402
from harness.runners.local import SubprocessRunner  # noqa: E402

SCENARIOS = {
    "oracle ESKF": ROOT / "scenarios" / "eskf" / "oracle-healthy.scenario.yaml",
    "provisioning": ROOT / "scenarios" / "provisioning" / "missing-checkpoint.scenario.yaml",
}


def one_run(runner: SubprocessRunner, scenario: Path, out: Path) -> tuple[float, float]:
    """(wall s, stack compute s) of one run, classification included."""
    start = time.monotonic()
    result = runner.run(scenario, out, timeout_s=600)
    verdict = result.verdict()
    wall = time.monotonic() - start
    if verdict.gate in ("infra-error", "config-error"):
        raise SystemExit(f"{scenario.name}: {verdict.gate}: {verdict.reason}")
    compute = [e["total_s"] for e in read_record(result.record_path).select("run", "compute")]
    return wall, sum(compute)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    runners = {
        "fresh": SubprocessRunner(ROOT, preload=False),
        "preloaded": SubprocessRunner(ROOT, preload=True),
    }
    figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
    reference = [reference_workload()]
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in SCENARIOS.values():  # a first run fills the clip cache
            one_run(runners["fresh"], scenario, Path(tmp) / "warm" / scenario.stem)
        for i in range(args.repeat):
            for label, scenario in SCENARIOS.items():
                for kind, runner in runners.items():
                    out = Path(tmp) / kind / str(i) / scenario.stem
                    figures.setdefault((label, kind), []).append(one_run(runner, scenario, out))
            reference.append(reference_workload())
    print(f"reference workload (numpy, fixed): {statistics.median(reference):.2f} s median")
    print(f"{args.repeat} runs each, medians; first preloaded run (start-up) included")
    print(f"{'scenario':14s} {'runner':10s} {'wall':>7s} {'compute':>8s} {'overhead':>9s} target")
    for (label, kind), runs in figures.items():
        wall = statistics.median(w for w, _ in runs)
        compute = statistics.median(c for _, c in runs)
        overhead = statistics.median(w - c for w, c in runs)
        budget = 0.05 * compute + 0.5
        verdict = "within" if overhead <= budget else "OVER"
        print(f"{label:14s} {kind:10s} {wall:6.2f}s {compute:7.2f}s {overhead:8.2f}s "
              f"<= {budget:.2f} s: {verdict}")  # fmt: skip
    for runner in runners.values():
        if runner.zygote is not None:
            runner.zygote.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
