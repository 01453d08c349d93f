"""`harness replay BUNDLE`: unpack a failure bundle, run it again, and say whether the verdict held.

"reproduced" means the same gate and the same reason (project roots aside); anything else is
listed as a difference of gate, reason, metrics or provenance. Exit codes: 0 reproduced,
1 not reproduced, 2 the bundle cannot be replayed (unreadable, an input is missing).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.digest import file_digest
from harness.gates import Verdict
from harness.history.ledger import key_metrics
from harness.rerun.attempt import normalise, run_scenario
from harness.rerun.failure_bundle import FORMAT, FORMAT_VERSION, MANIFEST, BundleError

REPRODUCED, DIFFERS, CANNOT = 0, 1, 2
# Provenance keys compared between the bundle and the replay (differences are reported).
PROVENANCE_KEYS = (
    "checkpoint_sha256",
    "clip_hash",
    "corpus_hash",
    "config_hash",
    "git_sha",
    "runner",
    "device",
    "image_digest",
)
# Files a container runner needs from a harness checkout (the replay project has none).
RUNNER_FILES = (
    "docker-compose.test.jetson.yml",
    "docker-compose.cpu.yml",
    "docker",
    "pyproject.toml",
)


@dataclass(frozen=True)
class Comparison:
    """The replay against the bundle: `differences` decide, `notes` inform (provenance)."""

    original: Verdict
    replayed: Verdict
    differences: list[str]
    notes: list[str] = field(default_factory=list)
    workdir: Path | None = None

    @property
    def reproduced(self) -> bool:
        return not self.differences

    @property
    def exit_code(self) -> int:
        return REPRODUCED if self.reproduced else DIFFERS


def read_manifest(bundle: Path) -> dict[str, Any]:
    """The bundle's manifest; anything that is not a bundle of this format is a BundleError."""
    if not bundle.is_file():
        raise BundleError(f"{bundle}: no such bundle; give a reports/failures/*.tar.gz file")
    try:
        with tarfile.open(bundle, "r:*") as tar:
            fh = tar.extractfile(MANIFEST)
            manifest = json.load(fh) if fh else None
    except (tarfile.TarError, KeyError, OSError, ValueError) as exc:
        raise BundleError(
            f"{bundle}: not a readable failure bundle ({exc}); was it copied whole?"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{bundle}: {MANIFEST} does not name format {FORMAT!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{bundle}: bundle format_version {manifest.get('format_version')!r}; this harness "
            f"reads {FORMAT_VERSION}: replay it with the harness version that wrote it"
        )
    return manifest


def unpack(bundle: Path, dest: Path) -> dict[str, Any]:
    """Extract the bundle into `dest` (members stay inside it) and return its manifest."""
    manifest = read_manifest(bundle)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(bundle, "r:*") as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise BundleError(f"{bundle}: cannot unpack into {dest} ({exc})") from None
    return manifest


def provide_inputs(manifest: dict[str, Any], project: Path, roots: list[Path]) -> list[str]:
    """Link checkpoints and clip bundles the bundle left out from `roots`, checking hashes."""
    notes = []
    for ck in manifest.get("checkpoints", []):
        rel = Path(ck["path"])
        if ck.get("included") or not ck.get("exists") or rel.is_absolute():
            continue  # in the bundle, missing in the original run too, or used in place
        source = _find(rel, roots)
        if source is None:
            where = ", ".join(str(r) for r in roots)
            raise BundleError(
                f"checkpoint {rel} (sha256 {str(ck.get('sha256'))[:12]}...) is not in the bundle "
                f"nor under {where}; pass --root DIR where {rel} is, or rebuild the bundle "
                "with --bundle-include checkpoint"
            )
        digest = file_digest(source)
        if ck.get("sha256") and digest != ck["sha256"]:
            notes.append(
                f"checkpoint {rel}: found {digest[:12]}, the bundle's run had {ck['sha256'][:12]}"
            )
        _link(source, project / rel)
    clip = manifest.get("clip") or {}
    raw = (clip.get("ref") or {}).get("bundle")
    if raw and not clip.get("included") and not Path(raw).is_absolute():
        source = _find(Path(raw), roots)
        if source is None:
            raise BundleError(
                f"clip bundle {raw} is not in the failure bundle nor under "
                f"{', '.join(map(str, roots))}; pass --root DIR where it is, or rebuild the "
                "failure bundle with --bundle-include clip"
            )
        _link(source, project / raw)
    return notes


def _find(rel: Path, roots: list[Path]) -> Path | None:
    return next((r / rel for r in roots if (r / rel).exists()), None)


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.symlink(source.resolve(), target)


def compare(
    manifest: dict[str, Any],
    replayed: Verdict,
    provenance: dict[str, Any],
    project: Path,
    *,
    rtol: float = 1e-6,
) -> Comparison:
    """Gate and reason decide; metrics beyond `rtol` and provenance are listed too."""
    v = manifest["verdict"]
    original = Verdict(v["gate"], v["outcome"], v["reason"], v.get("metrics") or {})
    roots = [manifest.get("root", ""), str(project), str(project.resolve())]
    differences = []
    if original.gate != replayed.gate:
        differences.append(f"gate: {original.gate} -> {replayed.gate}")
    a, b = normalise(original.reason, roots), normalise(replayed.reason, roots)
    if a != b:
        differences.append(f"reason: {a!r} -> {b!r}")
    ma, mb = key_metrics(original.metrics), key_metrics(replayed.metrics)
    metric_notes = []
    for key in sorted(set(ma) | set(mb)):
        x, y = ma.get(key), mb.get(key)
        if x is None or y is None or not math.isclose(x, y, rel_tol=rtol, abs_tol=1e-12):
            metric_notes.append(f"metric {key}: {x} -> {y}")
    before = manifest.get("provenance") or {}
    prov_notes = [
        f"provenance {k}: {before.get(k)} -> {provenance.get(k)}"
        for k in PROVENANCE_KEYS
        if before.get(k) != provenance.get(k)
    ]
    va, vb = before.get("versions") or {}, provenance.get("versions") or {}
    prov_notes += [
        f"provenance versions.{k}: {va.get(k)} -> {vb.get(k)}"
        for k in sorted(set(va) | set(vb))
        if va.get(k) != vb.get(k)
    ]
    aa, ab = _artifacts(before), _artifacts(provenance)
    prov_notes += [
        f"artifact {kind} {name}: {aa.get((kind, name))} -> {ab.get((kind, name))}"
        for kind, name in sorted(set(aa) | set(ab))
        if aa.get((kind, name)) != ab.get((kind, name))
    ]
    return Comparison(original, replayed, differences, metric_notes + prov_notes)


def _artifacts(provenance: dict[str, Any]) -> dict[tuple[str, str], str]:
    """What the stack ran (a program, an image, a checkpoint) -> "path sha256", so a replay
    on a machine with another image or program says so."""
    return {
        (str(a.get("kind")), str(a.get("name"))): f"{a.get('path')} {a.get('sha256')}"
        for a in provenance.get("artifacts") or []
    }


def replay(
    bundle: Path,
    workdir: Path | None = None,
    roots: list[Path] | None = None,
    cache_dir: Path | None = None,
    runner_name: str = "local",
    jetson_host: str | None = None,
    timeout_s: float | None = None,
) -> Comparison:
    """Unpack `bundle` into `workdir` (a new temporary folder by default), run it, compare."""
    from harness.record import RECORD_NAME, read_record

    # Absolute: the run process starts in the project's folder, not the caller's.
    dest = (workdir or Path(tempfile.mkdtemp(prefix="harness-replay-"))).absolute()
    manifest = unpack(bundle, dest)
    project = dest / "project"
    (project / "pyproject.toml").touch()  # marks the project root for relative paths
    search = [*(roots or []), Path(manifest["root"])]
    notes = provide_inputs(manifest, project, search)
    cache = cache_dir.absolute() if cache_dir else dest / "cache"
    runner = _runner(runner_name, project, cache, jetson_host, search)
    runner.preflight()
    scenario = project / manifest["scenario_path"]
    resolved = json.loads((dest / "resolved" / "scenario.json").read_text() or "{}")
    timeout = timeout_s or float(resolved.get("timeout_s") or 3600)
    out = dest / "replay"
    verdict = run_scenario(runner, scenario, out, timeout)
    try:
        provenance = read_record(out / RECORD_NAME).provenance
    except Exception:  # a broken replay has no record: its verdict already says why
        provenance = {}
    result = compare(manifest, verdict, provenance, project)
    return Comparison(result.original, verdict, result.differences, notes + result.notes, dest)


def _runner(name: str, project: Path, cache: Path, jetson_host: str | None, roots: list[Path]):
    from harness.runners import RUNNERS

    if name == "local" and jetson_host is None:
        return RUNNERS["local"](project, cache)
    # A container runner builds its compose call from a harness checkout's files.
    checkout = next((r for r in roots if (r / RUNNER_FILES[0]).exists()), None)
    if checkout is None:
        raise BundleError(
            f"--{name} needs a harness checkout for {RUNNER_FILES[0]}; pass --root DIR of one"
        )
    for rel in RUNNER_FILES:
        src, dst = checkout / rel, project / rel
        if src.is_dir() and not dst.exists():
            shutil.copytree(src, dst)
        elif src.is_file():
            shutil.copy2(src, dst)
    from harness.runners.jetson import container_runner

    return container_runner(project, name == "jetson", jetson_host, cache_dir=cache)
