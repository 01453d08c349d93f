"""Failure bundles: one size-bounded archive per surprising run, with what a replay elsewhere needs.

Layout of `reports/failures/<scenario>--<run id>.tar.gz` (see docs/surprises.md):

    manifest.json                 what the run was: verdict, decision, hashes, provenance, command
    project/<scenario path>       the scenario file as written (overrides inside)
    project/<stack file path>     what the stack reads besides checkpoints (an operator
                                  config, a program and its folder) as written
    project/<pipeline>.py         a `module:Class` stack under development, when it is one file
    project/<checkpoint path>     the checkpoint, when it fits the bound (or on request)
    project/<clip bundle path>/   a clip bundle, when it fits the bound (or on request)
    cache/synth/<hash>/           a synth clip as made, only on request (the spec remakes it)
    resolved/scenario.json, resolved/config.json   the scenario and the stack's settings as
                                  the run saw them
    run/record.jsonl, run/stderr.log, run/*.png    the run record, its log and its pictures
    run/stack.stderr              a process stack's stderr

Paths under `project/` mirror the paths relative to the project root, so unpacking the
archive gives a project a replay can run as is. Parts go in by priority; one that would take
the archive past the bound is left out and named in the manifest. The archive is written to
a hidden part file and renamed, so no half-written bundle ever carries the final name.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.digest import file_digest
from harness.errors import HarnessError
from harness.record import RECORD_NAME, Record

if TYPE_CHECKING:
    from harness.scenario.model import StackFile

FORMAT = "harness-failure-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FAILURES_DIR = Path("reports/failures")
DEFAULT_MAX_MB = 64.0
INCLUDABLE = ("checkpoint", "clip")


class BundleError(HarnessError):
    """A failure bundle cannot be written, read or replayed."""


@dataclass(frozen=True)
class RunFacts:
    """What the plugin knows about one finished run, enough to bundle it."""

    name: str
    run_id: str
    scenario_path: Path
    root: Path
    stack_files: list[StackFile]  # what the scenario's stack reads (config, checkpoints, ...)
    out_dir: Path
    expect: str
    expect_reason: str | None
    verdict: dict[str, Any]
    decision: dict[str, str]
    runner: str
    command: dict[str, list[str]]
    cache_dir: Path


@dataclass(frozen=True)
class Written:
    path: Path
    size: int
    members: list[tuple[str, int]]
    left_out: list[str]

    def summary(self) -> str:
        return f"{self.path} ({_mib(self.size)}, {len(self.members)} files)"


@dataclass
class _Parts:
    """The archive's members in the order they go in, with the running uncompressed size."""

    max_bytes: int
    members: list[tuple[str, Path | bytes]] = field(default_factory=list)
    total: int = 0
    left_out: list[str] = field(default_factory=list)

    def add(self, arcname: str, src: Path | bytes, *, must: bool = False, what: str = "") -> bool:
        size = len(src) if isinstance(src, bytes) else _size(src)
        if not must and not self.fits(size):
            self.leave_out(what or arcname, size)
            return False
        self.members.append((arcname, src))
        self.total += size
        return True

    def fits(self, size: int) -> bool:
        return self.total + size <= self.max_bytes

    def leave_out(self, what: str, size: int) -> None:
        self.left_out.append(f"{what} ({_mib(size)}): over the {_mib(self.max_bytes)} bound")


def _mib(n: int) -> str:
    return f"{n / 2**20:.2f} MiB" if n >= 2**16 else f"{n / 1024:.1f} KiB"


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def relative(path: Path, root: Path) -> Path:
    """`path` relative to the project root; files outside it go under `external/`."""
    try:
        return path.resolve().relative_to(root.resolve())
    except ValueError:
        return Path("external") / path.name


def _scenario_text(facts: RunFacts) -> Path | bytes:
    """The scenario file as written; when a file its stack reads lies outside the project, the
    copy points at that file's place in the bundle instead."""
    moved = [
        (f.key, relative(f.path, facts.root))
        for f in facts.stack_files
        if f.key is not None and relative(f.path, facts.root).parts[0] == "external"
    ]
    if not moved:
        return facts.scenario_path
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    tree = yaml.load(facts.scenario_path.read_text(encoding="utf-8"))
    for key, rel in moved:
        node = tree
        for part in key[:-1]:
            node = node[part]
        node[key[-1]] = rel.as_posix()
    out = io.StringIO()
    yaml.dump(tree, out)
    return out.getvalue().encode()


def _checkpoints(facts: RunFacts) -> list[dict[str, Any]]:
    """The checkpoints the stack reads: path (relative to the project when inside it), and
    size and sha256 when the file is there."""
    found = []
    for f in facts.stack_files:
        if f.role != "checkpoint":
            continue
        rel = relative(f.path, facts.root)
        raw = str(f.path) if rel.parts[0] == "external" else rel.as_posix()
        entry: dict[str, Any] = {"name": f.path.name, "path": raw, "exists": f.path.is_file()}
        if f.path.is_file():
            entry["size"] = f.path.stat().st_size
            entry["sha256"] = file_digest(f.path)
        found.append(entry)
    return found


def _telemetry(record: Record | None) -> dict[str, Any]:
    samples = list(record.select("telemetry", "sample")) if record else []
    if not samples:
        return {"samples": 0}
    return {"samples": len(samples), "first": samples[0], "last": samples[-1]}


def _pipeline_file(scenario: dict[str, Any], root: Path) -> Path | None:
    name = str(scenario.get("pipeline") or "")
    if ":" not in name:
        return None
    module = name.partition(":")[0].replace(".", "/")
    candidate = root / f"{module}.py"
    return candidate if candidate.is_file() else None


def collect(
    facts: RunFacts, record: Record | None, max_bytes: int, include: set[str]
) -> tuple[_Parts, dict[str, Any]]:
    """The archive's parts and its manifest (without the member list)."""
    parts = _Parts(max_bytes)
    root = facts.root
    scenario_rel = relative(facts.scenario_path, root)
    parts.add(f"project/{scenario_rel.as_posix()}", _scenario_text(facts), must=True)
    for f in facts.stack_files:  # the stack's config, program, ...: small, always carried
        if f.role != "checkpoint" and f.path.is_file():
            parts.add(f"project/{relative(f.path, root).as_posix()}", f.path, must=True)
        if f.role == "program" and f.path.is_file():  # its folder: all the stack sees of ours
            for path in sorted(p for p in f.path.parent.rglob("*") if p.is_file()):
                rel = relative(path, root).as_posix()
                if path != f.path:
                    parts.add(f"project/{rel}", path, what=f"program folder file {rel}")
    resolved_scenario = record.scenario if record else {}
    for name, obj in (("scenario", resolved_scenario), ("config", record.config if record else {})):
        blob = json.dumps(obj, indent=2, sort_keys=True).encode()
        parts.add(f"resolved/{name}.json", blob, must=True)
    record_path = facts.out_dir / RECORD_NAME
    if record_path.is_file():
        parts.add(f"run/{RECORD_NAME}", record_path, must=True)
    for log in sorted([*facts.out_dir.glob("*.log"), *facts.out_dir.glob("*.stderr")]):
        parts.add(f"run/{log.name}", log, must=True)  # the run's and a process stack's
    for png in sorted(facts.out_dir.rglob("*.png")):
        parts.add(f"run/{png.relative_to(facts.out_dir).as_posix()}", png, what="picture")
    if module := _pipeline_file(resolved_scenario, root):
        parts.add(f"project/{relative(module, root).as_posix()}", module, what="pipeline module")
    checkpoints = _checkpoints(facts)
    for ck in checkpoints:
        path = Path(ck["path"])
        path = path if path.is_absolute() else root / path
        ck["included"] = bool(
            ck["exists"]
            and not Path(ck["path"]).is_absolute()
            and parts.add(
                f"project/{ck['path']}",
                path,
                must="checkpoint" in include,
                what=f"checkpoint {ck['path']}",
            )
        )
    clip = _clip(facts, resolved_scenario, record, parts, include)
    prov = dict(record.provenance) if record else {}
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "scenario": facts.name,
        "run_id": facts.run_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "root": str(root),
        "scenario_path": scenario_rel.as_posix(),
        "stack_files": [
            {"role": f.role, "path": relative(f.path, root).as_posix()} for f in facts.stack_files
        ],
        "expect": facts.expect,
        "expect_reason": facts.expect_reason,
        "verdict": facts.verdict,
        "decision": facts.decision,
        "runner": facts.runner,
        "checkpoints": checkpoints,
        "clip": clip,
        "provenance": {**prov, "telemetry": _telemetry(record)},
        "command": {**facts.command, "replay": ["harness", "replay", "BUNDLE"]},
        "left_out": parts.left_out,
        "max_bytes": max_bytes,
    }
    return parts, manifest


def _clip(
    facts: RunFacts,
    scenario: dict[str, Any],
    record: Record | None,
    parts: _Parts,
    include: set[str],
) -> dict[str, Any]:
    ref = scenario.get("clip") or {}
    prov = record.provenance if record else {}
    info: dict[str, Any] = {
        "ref": ref,
        "segment": scenario.get("segment"),
        "clip_hash": prov.get("clip_hash"),
        "corpus_hash": prov.get("corpus_hash"),
        "included": False,
    }
    must = "clip" in include
    if ref.get("bundle"):
        raw = Path(ref["bundle"])
        path = raw if raw.is_absolute() else facts.root / raw
        if path.exists() and not raw.is_absolute():
            # The whole bundle: cutting a segment out would mean re-encoding its video.
            what = f"clip bundle {raw} (whole, segment {scenario.get('segment')})"
            if path.is_dir():
                fits = must or parts.fits(_size(path))
                if fits:
                    for f in sorted(p for p in path.rglob("*") if p.is_file()):
                        parts.add(f"project/{raw.as_posix()}/{f.relative_to(path)}", f, must=True)
                else:
                    parts.leave_out(what, _size(path))
                info["included"] = fits
            else:
                info["included"] = parts.add(
                    f"project/{raw.as_posix()}", path, must=must, what=what
                )
    elif ref.get("synth") and must:
        info["included"] = _add_synth(ref["synth"], facts.cache_dir, parts)
    return info


def _add_synth(spec: dict[str, Any], cache_dir: Path, parts: _Parts) -> bool:
    from harness.synth.make import make_synth
    from harness.synth.spec import SynthSpec

    folder = make_synth(SynthSpec.model_validate(spec), cache_dir)  # cached: no remake
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = f.relative_to(cache_dir).as_posix()
        parts.add(f"cache/{rel}", f, must=True)
    return True


def write_bundle(
    facts: RunFacts,
    record: Record | None,
    folder: Path,
    max_mb: float = DEFAULT_MAX_MB,
    include: set[str] | frozenset[str] = frozenset(),
) -> Written:
    """Write the bundle atomically into `folder` and say where, how big and what was left out."""
    parts, manifest = collect(facts, record, int(max_mb * 2**20), set(include))
    manifest["members"] = [
        {"name": name, "size": len(src) if isinstance(src, bytes) else _size(src)}
        for name, src in parts.members
    ]
    folder.mkdir(parents=True, exist_ok=True)
    safe_run = "".join(c if c.isalnum() or c in "-_." else "_" for c in facts.run_id)
    final = folder / f"{facts.name}--{safe_run}.tar.gz"
    part = folder / f".{final.name}.part-{os.getpid()}"
    try:
        with tarfile.open(part, "w:gz") as tar:
            _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2, default=str).encode())
            for name, src in parts.members:
                if isinstance(src, bytes):
                    _add_bytes(tar, name, src)
                else:
                    tar.add(src, arcname=name, recursive=False)
        os.replace(part, final)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise BundleError(f"{final}: cannot write the failure bundle ({exc})") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    members = [(MANIFEST, len(json.dumps(manifest)))] + [
        (m["name"], m["size"]) for m in manifest["members"]
    ]
    return Written(final, final.stat().st_size, members, parts.left_out)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))
