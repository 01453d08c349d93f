"""A stand-in for `python -m harness.run` that misbehaves on purpose (runner fault tests).

`python -m harness.testing.fake_run MODE --out DIR`: `verdict` writes a small, well-formed,
ended record (nothing provisioned: the host judges it empty-backbones); `oom` allocates until
the memory limit kills it; `sleep` outlives any timeout; `no-verdict` writes the condition
line and exits 0 without ending the record. It stands in for the run, never for a product.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _write(out: Path, lines: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "record.jsonl").open("w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line) + "\n")
            fh.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.testing.fake_run")
    parser.add_argument("mode", choices=["verdict", "oom", "sleep", "no-verdict"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=3600.0)
    args = parser.parse_args(argv)
    condition = {"kind": "condition", "scenario": {"name": f"fake-{args.mode}"}, "provenance": {}}
    if args.mode == "no-verdict":
        _write(args.out, [condition])
        print("fake: leaving without a verdict line", file=sys.stderr)
        return 0
    if args.mode == "sleep":
        _write(args.out, [condition])
        time.sleep(args.seconds)
        return 0
    if args.mode == "oom":
        _write(args.out, [condition])
        hog = []
        while True:  # 64 MiB at a time, touched so the pages are really charged
            hog.append(bytearray(64 * 2**20))
            print(f"fake: holding {len(hog) * 64} MiB", file=sys.stderr, flush=True)
    latencies = [{"kind": "event", "stage": "latency", "type": "sample", "stage_name": "vpr",
                  "ms": 10.0 + i} for i in range(5)]  # fmt: skip
    nothing = {"kind": "event", "stage": "provisioning", "type": "backbones", "count": 0,
               "names": [], "source": "fake run"}  # fmt: skip
    _write(args.out, [condition, nothing, *latencies, {"kind": "end"}])
    return 0


if __name__ == "__main__":
    sys.exit(main())
