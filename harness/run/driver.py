"""Runs a scenario's stages over its clip and streams the run record, ending it with `end`.

Provisioning runs before the condition line is written (its events are held back) so that
a run that stops there costs no clip generation, and a run that goes on records the clip
and corpus hashes in its first line. The driver never judges: the host classifies the
record once, after the runner has added what it collected. Ground truth goes into the record
here, after the stack has run, as `truth/sample` lines for the gates.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from harness import provenance
from harness.clip.model import Truth
from harness.errors import ClipError, ScenarioError, StackError
from harness.record import RECORD_NAME, RecordWriter
from harness.run.measured import expected
from harness.run.stage import RunContext, StageStop, find_pipeline
from harness.run.sweep import run_sweep
from harness.scenario.load import load, project_root

log = logging.getLogger(__name__)
TRUTH_RATE_HZ = 10.0


def _broken(writer: RecordWriter, scenario_path: Path, prov: dict, category: str, msg: str) -> None:
    writer.condition({"path": str(scenario_path)}, {}, {**prov, "device": provenance.device()})
    writer.event("setup", "error", category=category, message=msg)


def run(
    scenario_path: Path,
    out_dir: Path,
    runner: str = "local",
    root: Path | None = None,
    cache_dir: Path | None = None,
) -> Path:
    """Run one scenario into `out_dir/record.jsonl` (ended, not yet judged); returns its path."""
    root = (root or project_root(scenario_path.parent)).resolve()
    cache_dir = cache_dir or root / ".cache"
    record_path = out_dir / RECORD_NAME
    prov = provenance.base(root, runner)
    with RecordWriter(record_path) as writer:
        try:
            loaded = load(scenario_path, root)
        except ScenarioError as exc:
            _broken(writer, scenario_path, prov, "config-error", str(exc))
        else:
            ctx = RunContext(loaded, writer, cache_dir, out_dir, runner)
            compute: dict[str, float] = {}
            _stages(ctx, prov, compute)
            if compute:
                writer.event("run", "compute", seconds=compute, total_s=sum(compute.values()))
        writer.end()
    return record_path


@contextmanager
def _timed(ctx: RunContext, compute: dict[str, float], stage: str) -> Iterator[None]:
    """Run the stack's `stage`, adding its time to `compute` (the harness's own time is the
    rest of the run: bench/runner_bench.py reports it as overhead)."""
    started = time.perf_counter()
    ctx.running = stage
    try:
        yield
    finally:
        ctx.running = ""
        compute[stage] = compute.get(stage, 0.0) + time.perf_counter() - started


def _stages(ctx: RunContext, prov: dict, compute: dict[str, float]) -> None:
    loaded = ctx.loaded
    prov = {
        **prov,
        "config_hash": loaded.settings_hash(),
        **provenance.artifacts([]),
        "clip_hash": None,
        "corpus_hash": None,
    }
    try:
        try:
            with _timed(ctx, compute, "provision"):  # loading the stack's entry point included
                pipeline = find_pipeline(loaded.scenario.pipeline, loaded.root)
                engines = pipeline.provision(ctx)
        finally:  # what the stack declared, even when a check stopped it
            prov.update(provenance.artifacts(ctx.artifacts))
        from harness.clip import load_clip

        ctx.clip = load_clip(
            loaded.scenario.clip, loaded.scenario.segment, ctx.cache_dir, root=loaded.root
        )
        prov["clip_hash"] = ctx.clip.content_hash
        prov["clip_duration_s"] = ctx.clip.duration_s
        ctx.corpus = _corpus(ctx)
        prov["corpus_hash"] = ctx.corpus.content_hash if ctx.corpus else None
    except StageStop as exc:  # nothing provisioned (empty-backbones), or a failed check
        log.info("stopped in provisioning: %s", exc)
        _condition(ctx, prov)
        _refused(ctx)
        return
    except (ScenarioError, ClipError) as exc:
        _condition(ctx, prov)
        if exc is not ctx.refused:
            ctx.log("setup", "error", category="config-error", message=str(exc))
        _refused(ctx)
        return
    except Exception as exc:  # anything unforeseen is the run's failure, not the product's
        _condition(ctx, prov)
        if not _refused(ctx):
            _infra(ctx, exc)
        return
    _condition(ctx, prov)
    _expect_answers(ctx, pipeline)
    truth = ctx.truth  # RunContext kept it apart when the clip was assigned: no stage saw it
    try:
        with _timed(ctx, compute, "fixes"):
            fixes = pipeline.fixes(ctx, engines)
        with _timed(ctx, compute, "navigate"):
            pipeline.navigate(ctx, fixes)
        if ctx.scenario.sweep is not None and ctx.refused is None:
            with _timed(ctx, compute, "sweep"):  # the same stack again, at each rate
                run_sweep(ctx, pipeline, engines)
    except StageStop as exc:  # a product stop: recorded, so a verdict can say why
        log.info("stopped: %s", exc)
        ctx.log("run", "stop", reason=str(exc))
    except StackError as exc:  # the process adapter's stack crashed, hung, wrote garbage
        ctx.log("setup", "error", category="infra-error", message=str(exc))
    except (ScenarioError, ClipError) as exc:  # the scenario asks for what the clip lacks
        if exc is not ctx.refused:
            ctx.log("setup", "error", category="config-error", message=str(exc))
    except Exception as exc:  # runner, record, resources (out of memory): the run broke
        _infra(ctx, exc)
    _refused(ctx)
    if truth is not None and len(truth.t_s):
        for sample in truth_samples(truth):
            ctx.log("truth", "sample", **sample)
        # Where the clip's truth starts and ends (a real log's GNSS locks after boot): the
        # gates judge from its start, and a record missing samples inside it is not judged.
        # and how far the truth itself may be off (a survey's GNSS and frame-time offset):
        # the retrieval gate's hit radius is never smaller.
        stated = (ctx.clip.manifest.get("truth_uncertainty") or {}).get("horizontal_95_m")
        ctx.log(
            "truth",
            "span",
            t_s=float(truth.t_s[0]),
            to_s=float(truth.t_s[-1]),
            horizontal_95_m=stated,
        )


def _expect_answers(ctx: RunContext, pipeline: object) -> None:
    """Record the frames the scenario's query rate asks the stack to answer, before it runs:
    the gates count each one, so a stack cannot choose its own denominator."""
    rate_of = getattr(pipeline, "query_rate_hz", None)
    rate_hz = rate_of(ctx.scenario) if rate_of is not None else None
    if rate_hz is not None and ctx.clip is not None and len(ctx.clip.frames.t_s):
        ctx.log("vpr", "expected", **expected(ctx.clip.frames.t_s, rate_hz))


def truth_samples(truth: Truth) -> list[dict]:
    """Ground truth at TRUTH_RATE_HZ over the clip, as the record's truth/sample fields."""
    if len(truth.t_s) == 0:
        return []
    ticks = np.arange(float(truth.t_s[0]), float(truth.t_s[-1]) + 1e-9, 1.0 / TRUTH_RATE_HZ)
    picked = sorted({*np.atleast_1d(truth.index_at(ticks)).tolist(), len(truth.t_s) - 1})
    return [
        {"t_s": truth.t_s[i], "p_ned_m": truth.p_ned_m[i], "q_wxyz": truth.q_wxyz[i]}
        for i in picked
    ]


def _corpus(ctx: RunContext):
    """The scenario's `corpus:`, else the clip's local-grid corpus, else None (a clip without
    one is legal; a strategy that needs one says so)."""
    from harness.clip.corpus_source import scenario_corpus

    spec = ctx.scenario.corpus
    if spec is None and not ctx.clip.has_corpus("local-grid"):
        return None
    return scenario_corpus(spec, ctx.clip, ctx.loaded.resolve, ctx.cache_dir)


def _refused(ctx: RunContext) -> bool:
    """Record the config-error of a stage that wrote the driver's kinds (even when the stage
    caught the refusal and went on); whether there was one."""
    if ctx.refused is None:
        return False
    ctx.log("setup", "error", category="config-error", message=str(ctx.refused))
    return True


def _condition(ctx: RunContext, prov: dict) -> None:
    ctx._writer.condition(
        ctx.loaded.scenario.model_dump(mode="json"),
        ctx.loaded.settings.dump(),
        {**prov, "device": provenance.device()},
    )
    ctx.flush_pending()


def _infra(ctx: RunContext, exc: BaseException) -> None:
    tail = "".join(traceback.format_exception(exc)).strip().splitlines()[-6:]
    log.error("infra-error: %s", exc, exc_info=exc)
    ctx.log(
        "setup",
        "error",
        category="infra-error",
        message=f"{type(exc).__name__}: {exc}",
        traceback=tail,
    )
