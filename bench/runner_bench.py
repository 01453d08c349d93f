"""Container overhead and image build time: prints figures, asserts nothing.

    python bench/runner_bench.py [--scenario S] [--repeat N] [--cold]

Runs the same scenario with the local (subprocess) runner and the docker runner in one
process, alternating, and prints median wall times and the overhead against the target
(docker <= local * 1.10 + 5 s). Then times `harness runner build-image` on a built image
(cached) and, with --cold, after removing the images and the build caches (minutes).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.runners import image  # noqa: E402
from harness.runners.docker import DockerRunner  # noqa: E402
from harness.runners.local import SubprocessRunner  # noqa: E402

DEFAULT = ROOT / "scenarios" / "provisioning" / "empty-backbones.scenario.yaml"


def time_runs(scenario: Path, repeat: int) -> dict[str, list[float]]:
    runners = {"local": SubprocessRunner(ROOT), "docker": DockerRunner(ROOT, telemetry=False)}
    runners["docker"].preflight()
    times: dict[str, list[float]] = {name: [] for name in runners}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeat):
            for name, runner in runners.items():
                start = time.monotonic()
                result = runner.run(scenario, Path(tmp) / f"{name}-{i}", timeout_s=600)
                times[name].append(time.monotonic() - start)
                if result.infra_error:
                    raise SystemExit(f"{name} run broke: {result.infra_error}")
    return times


def cold_build() -> float:
    recipe = image.Recipe.from_root(ROOT)
    client = image._client()
    for tag in (recipe.tag, recipe.base_tag):
        if image._image_id(client, tag):
            client.images.remove(tag, force=True)
    shutil.rmtree(ROOT / ".cache" / "image", ignore_errors=True)
    return image.build(ROOT).seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="also time a cold image build")
    args = parser.parse_args()

    if args.cold:
        print(f"image build, cold: {cold_build():.1f} s")
    start = time.monotonic()
    cached = image.build(ROOT)
    print(f"image build, cached: {time.monotonic() - start:.2f} s (no-op: {cached.cached})")

    times = time_runs(args.scenario.resolve(), args.repeat)
    local, docker = statistics.median(times["local"]), statistics.median(times["docker"])
    budget = local * 1.10 + 5.0
    print(f"scenario: {args.scenario.name}, {args.repeat} runs each (median)")
    for name, values in times.items():
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {name:7s} {statistics.median(values):6.2f} s  ({each})")
    verdict = "within" if docker <= budget else "OVER"
    print(f"  overhead {docker - local:+.2f} s ({(docker / local - 1) * 100:+.0f}%); "
          f"target docker <= {budget:.2f} s: {verdict}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
