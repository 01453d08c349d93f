"""How instant the harness is: import and start-up figures, each beside a reference measured
in the same run (prints figures, asserts nothing).

    python bench/import_bench.py [--repeat N]

Targets: `import harness.pytest` under 100 ms cumulative (`python -X importtime`), `harness
--help` and `harness scenario lint FILE` under 0.5 s of wall time. Each figure is the median
(and the minimum) of N fresh interpreters; the references are `python -c pass` and `import
pytest` (the plugin's one unavoidable import), so a busy host shows as a slow reference too.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = ROOT / "scenarios" / "process" / "ring-stack.scenario.yaml"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def wall_s(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=ROOT, env=_env(), capture_output=True, check=True)
    return time.perf_counter() - start


def importtime_ms(code: str, *modules: str) -> list[float]:
    """Cumulative import time of each of `modules` where `code` imports it at the top level
    (`python -X importtime`, one fresh interpreter)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )

    def cumulative(name: str) -> float:
        pattern = rf"^import time:\s+\d+ \|\s+(\d+) \| {re.escape(name)}$"
        found = re.search(pattern, done.stderr, re.MULTILINE)
        return int(found.group(1)) / 1e3 if found else float("nan")

    return [cumulative(name) for name in modules]


def plugin_share_ms() -> float:
    """What the plugins the entry point names add to a pytest session: pytest is already
    imported when pytest loads them."""
    from harness.pytest import pytest_plugins

    code = "import pytest, harness.pytest; " + "; ".join(f"import {m}" for m in pytest_plugins)
    found = importtime_ms(code, "harness.pytest", *pytest_plugins)
    return sum(ms for ms in found if ms == ms)  # one imported by another is in its figure


def row(name: str, values: list[float], unit: str, target: str) -> str:
    median, low = statistics.median(values), min(values)
    return f"{name:<44} {median:9.1f} {low:9.1f} {unit:<3} {target}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    n = parser.parse_args().repeat
    lint = ["-m", "harness.commands.main", "scenario", "lint", str(LINT.relative_to(ROOT))]
    figures = [
        ("reference: python -c pass", [wall_s(["-c", "pass"]) * 1e3 for _ in range(n)], "ms", ""),
        ("reference: import pytest (cumulative)",
         [importtime_ms("import pytest", "pytest")[0] for _ in range(n)], "ms", ""),
        ("import harness.pytest (cumulative)",
         [importtime_ms("import harness.pytest", "harness.pytest")[0] for _ in range(n)], "ms",
         "< 100 ms"),
        ("  + the plugins it names, after pytest", [plugin_share_ms() for _ in range(n)], "ms",
         ""),
        ("harness --help (wall)", [wall_s(["-m", "harness.commands.main", "--help"]) * 1e3
                                   for _ in range(n)], "ms", "< 500 ms"),
        ("harness scenario lint FILE (wall)", [wall_s(lint) * 1e3 for _ in range(n)], "ms",
         "< 500 ms"),
    ]  # fmt: skip
    print(f"{'figure':<44} {'median':>9} {'min':>9}     target   ({n} runs each)")
    for name, values, unit, target in figures:
        print(row(name, values, unit, target))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"host: {os.cpu_count()} CPUs, load average {load:.1f}")


if __name__ == "__main__":
    main()
