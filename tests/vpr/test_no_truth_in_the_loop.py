"""No truth in the loop: the reference stack's fixes and states do not change with the truth.

The netvlad pipeline (a small checkpoint, the 10 s stand-in) and the filter run three times on
the same clip: as the run driver hands it over, with its truth replaced by garbage (forced onto
the clip the stages see, past RunContext's guard, and on `ctx.truth`), and with no truth at
all. Every fix and state must be identical; for both alignment sources.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from harness.clip import Clip, Truth, load_clip
from harness.record import json_ready
from harness.reference.models.scaffold import make_scaffold
from harness.reference.pipeline import ReferencePipeline
from harness.run.stage import RunContext
from harness.scenario.load import load
from tests.helpers import TINY, TINY_OVERRIDES

REPO = Path(__file__).resolve().parents[2]
# what differs between two runs of the same inputs: wall-clock figures
CLOCK_FIELDS = {"latency_ms", "seconds", "ms", "x_real_time", "latency_s", "cached"}


def _scenario(project: pytest.Pytester, align_source: str) -> Path:
    make_scaffold(project.path / "models" / "tiny.pt", **TINY)
    text = f"""\
format_version: 1
name: no-truth-{align_source}
config: configs/operator_replay.yaml
{TINY_OVERRIDES}clip:
  synth: {{preset: derkachi-10s, seed: 3}}
vpr: {{strategy: netvlad, rate_hz: 2, input_px: 64, align: north-up, align_source: {align_source}}}
expect: pass
"""
    return project.makefile(".scenario.yaml", **{f"no-truth-{align_source}": text})


def garbage(truth: Truth) -> Truth:
    """Same shape and clock, nonsense values: a stage reading any of it would change."""
    rng = np.random.default_rng(99)
    q = rng.normal(size=truth.q_wxyz.shape)
    return Truth(
        truth.t_s,
        rng.uniform(-5e3, 5e3, truth.p_ned_m.shape),
        rng.uniform(-50, 50, truth.v_ned_m_s.shape),
        q / np.linalg.norm(q, axis=1, keepdims=True),
    )


def _run(path: Path, clip: Clip, truth: Truth | None, tmp: Path) -> list[tuple]:
    """The pipeline's events with the stages seeing `clip` as it is (truth included)."""
    loaded = load(path, path.parent)
    tmp.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(loaded, None, REPO / ".cache", tmp)
    object.__setattr__(ctx, "clip", clip)  # past the guard: prove the stages ignore it
    object.__setattr__(ctx, "truth", truth)
    ctx.corpus = clip.corpus()  # as the run driver sets it
    pipeline = ReferencePipeline()
    engines = pipeline.provision(ctx)
    pipeline.navigate(ctx, pipeline.fixes(ctx, engines))
    out = []
    for stage, type, fields in ctx._pending:
        kept = {k: v for k, v in fields.items() if k not in CLOCK_FIELDS}
        out.append((stage, type, json_ready(kept)))
    return out


@pytest.mark.parametrize("align_source", ["telemetry", "filter"])
def test_fixes_and_states_do_not_depend_on_truth(
    project: pytest.Pytester, tmp_path: Path, align_source: str
) -> None:
    path = _scenario(project, align_source)
    loaded = load(path, path.parent)
    clip = load_clip(loaded.scenario.clip, loaded.scenario.segment, REPO / ".cache")
    assert clip.truth is not None and clip.telemetry is not None

    as_given = _run(path, replace(clip, truth=None), clip.truth, tmp_path / "a")
    lied_to = _run(
        path, replace(clip, truth=garbage(clip.truth)), garbage(clip.truth), tmp_path / "b"
    )
    without = _run(path, replace(clip, truth=None), None, tmp_path / "c")

    kinds = {(s, t) for s, t, _ in as_given}
    assert {("vpr", "query"), ("eskf", "init"), ("eskf", "fix"), ("eskf", "state")} <= kinds
    assert sum(1 for s, t, _ in as_given if (s, t) == ("eskf", "state")) >= 90
    queries = [f for s, t, f in as_given if (s, t) == ("vpr", "query")]
    assert all(q["align"]["source"] == align_source for q in queries[1:])
    for other in (lied_to, without):
        assert len(other) == len(as_given)
        for a, b in zip(as_given, other, strict=True):
            assert a == b


def test_the_run_context_keeps_truth_from_the_stages() -> None:
    """Assigning a clip with truth leaves the stages a clip without it; the oracle gets it."""
    from harness.clip import ClipRef, Segment

    clip = load_clip(
        ClipRef.model_validate({"synth": {"preset": "derkachi-10s", "seed": 3}}),
        Segment(),
        REPO / ".cache",
    )
    built = RunContext(None, None, REPO / ".cache", Path("."), clip=clip)
    assigned = RunContext(None, None, REPO / ".cache", Path("."))
    assigned.clip = clip
    for ctx in (built, assigned):
        assert ctx.clip.truth is None and ctx.truth is clip.truth
        assert ctx.clip.telemetry is clip.telemetry
