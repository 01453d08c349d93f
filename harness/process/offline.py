"""What a stack's author runs without a run of the harness: the input folder a scenario's stack
gets (`harness stack input`), and a check of a recorded stdout against stack output v2
(`harness stack check`) that names every problem by file, line and field, with its fix."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import ScenarioError, StackError
from harness.process.inputs import FRAMES_DIR, write_stack_input
from harness.process.launch import release_line, write_frame
from harness.process.protocol import SCHEMA_NAME, Query, decode_descriptor, problems
from harness.run.feed import released
from harness.run.measured import figures, query_frames

ANSWERS = ("query", "fix", "state")
TICKS = "ticks.jsonl"
GATE_DTYPE = "float32"  # what the vpr-contract gate takes by default
NORM_TOL = 1e-2


@dataclass(frozen=True)
class StackInput:
    """The folder written, with what a stack will be asked for."""

    folder: Path
    frames: int
    rate_hz: float | None
    query_frames: list[int]
    ticks: Path


def write_input(scenario_path: Path, out: Path, cache_dir: Path | None = None) -> StackInput:
    """The input folder the scenario's `process` stack gets, in `out` (which must not exist),
    with every frame in `frames/` and `ticks.jsonl`: the stdin lines the clock releases, in
    order (without the clock)."""
    from harness.clip import load_clip
    from harness.scenario.load import load

    loaded = load(scenario_path)
    scenario = loaded.scenario
    spec = getattr(scenario, "process", None)
    if spec is None:
        raise ScenarioError(
            f"{scenario_path}: pipeline is {scenario.pipeline!r}; `harness stack input` writes "
            "the input of a `pipeline: process` stack (docs/adapters.md)"
        )
    if out.exists():
        raise StackError(f"{out} exists; remove it or name another folder with --out")
    clip = load_clip(
        scenario.clip, scenario.segment, cache_dir or loaded.root / ".cache", root=loaded.root
    )
    write_stack_input(clip, spec.corpus, out)  # truth is never written into it
    ticks = out / TICKS
    with ticks.open("wb") as lines:  # every release at once: by hand, there is no clock
        for sample in released(clip):
            if sample.release.kind == "frame":
                write_frame(out / FRAMES_DIR, sample.release.index, sample.pixels)
            lines.write(release_line(sample))
    t_s = np.asarray(clip.frames.t_s, dtype=float)
    frames = query_frames(t_s, spec.rate_hz) if spec.rate_hz else []
    return StackInput(out, len(t_s), spec.rate_hz, frames, ticks)


@dataclass(frozen=True)
class InputFacts:
    """What of an input folder locates an answer: frame times and tile ids."""

    frame_t: np.ndarray
    tiles: set[str]

    @classmethod
    def read(cls, folder: Path) -> InputFacts:
        try:
            frame_t = [
                line["t_s"]
                for text in (folder / TICKS).read_text().splitlines()
                if (line := json.loads(text))["type"] == "frame"
            ]
            tiles = {
                parts[2]
                for line in (folder / "stack.txt").read_text().splitlines()
                if len(parts := line.split()) >= 3 and parts[0] == "tile"
            }
        except (OSError, ValueError) as exc:
            raise StackError(
                f"{folder} is not a stack input folder ({exc}); write one with "
                "`harness stack input SCENARIO`"
            ) from None
        return cls(np.asarray(frame_t, dtype=float), tiles)


def check_output(path: Path, input_dir: Path | None = None) -> tuple[int, list[str]]:
    """(lines read, problems): each problem `FILE:LINE: field: what; fix`. With the input
    folder, frames, tile ids and stamps are checked against it too."""
    facts = InputFacts.read(input_dir) if input_dir is not None else None
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise StackError(f"cannot read {path}: {exc.strerror}") from None
    found: list[str] = []
    ready = read = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        read += 1
        at = f"{path}:{number}"
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            found.append(
                f"{at}: not JSON ({exc.msg} at column {exc.colno}); write one complete JSON "
                "object per line"
            )
            continue
        if bad := problems(obj):
            found += [f"{at}: {field}: {what}; {hint or _see()}" for field, what, hint in bad]
            continue
        kind = obj["type"]
        ready += kind == "ready"
        if kind in ANSWERS and not ready:
            found.append(
                f"{at}: {kind} before the ready line: no frame is released before it; write "
                '{"type": "ready"} first'
            )
        if kind == "query" and obj.get("descriptor") is not None:
            found += [f"{at}: {why}" for why in _descriptor(obj)]
        if facts is not None and kind in ANSWERS:
            found += [f"{at}: {why}" for why in _located(obj, facts)]
    if read and not ready:
        found.append(f'{path}: no ready line; a stack writes {{"type": "ready"}} once loaded')
    return read, found


def _see() -> str:
    return f"see docs/adapters.md, section 3 (harness/process/{SCHEMA_NAME})"


def _descriptor(obj: dict) -> list[str]:
    """What the harness would measure of the descriptor, and what the gate would refuse."""
    desc = Query.model_validate(obj).descriptor
    try:
        values = decode_descriptor(desc)
    except ValueError as exc:
        return [f"query.descriptor.data: {exc}"]
    fig = figures(values)
    out = []
    if desc.dtype != GATE_DTYPE:
        out.append(
            f"query.descriptor.dtype: {desc.dtype}; the vpr-contract gate takes {GATE_DTYPE}: "
            "send the values as float32"
        )
    if not fig["finite"]:
        out.append("query.descriptor.data: NaN or inf among the values; vpr-contract fails it")
    elif not math.isclose(fig["norm"], 1.0, abs_tol=NORM_TOL):
        out.append(
            f"query.descriptor.data: norm {fig['norm']:.4f}, not 1 within {NORM_TOL:g}; "
            "L2-normalise the descriptor"
        )
    return out


def _located(obj: dict, facts: InputFacts) -> list[str]:
    kind, frame, t_s = obj["type"], obj["frame"], obj["t_s"]
    if frame >= len(facts.frame_t):
        last = len(facts.frame_t) - 1
        return [f"{kind}.frame: {frame} does not exist (frames 0 .. {last}); name a frame"]
    out = []
    frame_t = float(facts.frame_t[frame])
    if t_s < frame_t - 1e-6:
        out.append(
            f"{kind}.t_s: {t_s:.3f} s, before its frame {frame} (t={frame_t:.3f} s): causality "
            "broken; stamp an answer at or after its frame's time"
        )
    for i, hit in enumerate(obj.get("topk", []) if kind == "query" else []):
        if hit["tile"] not in facts.tiles:
            out.append(
                f"query.topk.{i}.tile: {hit['tile']!r} is not in the input's corpus; name "
                "tiles as stack.txt does"
            )
    return out
