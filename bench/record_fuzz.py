"""The record fuzzer at full size: thousands of mutated real records, counts by outcome.

    python bench/record_fuzz.py [--cases 1500]

Runs tests/gates/test_record_fuzz.py with HARNESS_FUZZ_CASES set (the suite runs 300) and
prints its counts: zero exceptions and zero PASS after an evidence-removing mutation, or the
failing case.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1500, help="mutated records per property")
    args = parser.parse_args()
    env = {**os.environ, "HARNESS_FUZZ_CASES": str(args.cases)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"]
    cmd.append("tests/gates/test_record_fuzz.py")
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if "fuzzer:" in line or "removal:" in line or "passed" in line or "failed" in line:
            print(line.strip(". "))
    if done.returncode:
        print(done.stdout[-4000:], done.stderr[-2000:], sep="\n")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
