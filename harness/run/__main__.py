"""`python -m harness.run SCENARIO --out DIR`: the one entry point every runner starts.

Exit status 0 means the run finished and ended its record (whatever happened in it); the host
classifies the record afterwards. Anything else means the run itself broke.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from harness.run.driver import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.run", description=__doc__)
    parser.add_argument("scenario", type=Path, help="a *.scenario.yaml file")
    parser.add_argument("--out", type=Path, required=True, help="folder for record.jsonl")
    parser.add_argument("--runner", default="local", help="runner name, for provenance")
    parser.add_argument("--root", type=Path, help="project root for relative paths")
    parser.add_argument("--cache-dir", type=Path, help="clip, corpus and descriptor cache")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    record = run(args.scenario, args.out, args.runner, args.root, args.cache_dir)
    print(f"run record complete: {record}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
