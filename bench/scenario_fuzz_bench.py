"""The scenario-file fuzzer at full size: prints counts by outcome and the crashes it found.

    python bench/scenario_fuzz_bench.py [--cases N] [--seed S] [--keep DIR]

Mutates the real scenarios/ files (bytes, nesting, aliases, types, keys, overrides, paths),
loads each mutant once and counts outcomes (loaded, problems, unlocated, crash). Exits 1 when
any mutant crashed or got an unlocated problem; its file is kept in DIR for a reproduction.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.scenario import fuzz  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, help="folder for failing mutants")
    args = parser.parse_args()
    seeds = sorted((ROOT / "scenarios").rglob("*.scenario.yaml"))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        start = time.monotonic()
        result = fuzz.run(seeds, args.cases, args.seed, workdir, ROOT)
        seconds = time.monotonic() - start
    print(f"{args.cases} mutants of {len(seeds)} scenario files, seed {args.seed}, {seconds:.1f} s")
    print(result.summary())
    for case, kind, detail in result.failures[:20]:
        print(f"  case {case}: {kind}: {detail}")
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
