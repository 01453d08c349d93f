"""Everything Allure: the one module that imports allure, with no-op stand-ins when it is absent.

`report_run` turns a finished run (its verdict, record and out dir) into steps per stage with
their figures, attachments and labels of the current test (pictures made later are added to
the written result by `harness.report.allure_late`); `write_side_files` writes the results
directory's categories.json, environment.properties and executor.json.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import pytest

from harness.gates import LADDER, NOT_JUDGED, Verdict
from harness.record import Record
from harness.report.categories import categories

log = logging.getLogger(__name__)

try:
    import allure
    from allure_commons.types import AttachmentType, LabelType, Severity
except ImportError:  # reporting is optional: everything below becomes a no-op
    allure = None

AVAILABLE = allure is not None
# Stage steps in run order; a PNG goes to the first stage whose prefixes start its name.
STAGES = (
    ("provisioning", ("provisioning", "checkpoint")),
    ("vpr", ("vpr", "retrieval", "descriptor", "recall")),
    ("eskf", ("eskf", "trajectory", "nees", "nis", "filter")),
    ("latency", ("latency", "telemetry")),
    ("sweep", ("sweep",)),
)
ALWAYS_SHOWN = ("provisioning", "vpr", "eskf")
MORE = "figures"  # the step of the PNGs no stage claims: "figures: N more"
# The run's folder, shown with each result (where its record lies) and how a picture made
# after the test was written finds its result; excluded, so the history id ignores it.
RUN_FOLDER = "run folder"
MAX_EVENTS = 50  # per stage in the step's JSON attachment; the whole record is attached too


def stage_of(png: Path) -> str | None:
    """The stage step a picture belongs to (the first whose prefixes start its file name)."""
    name = png.name.lower()
    return next((stage for stage, prefixes in STAGES if name.startswith(prefixes)), None)


def picture_name(png: Path, out_dir: Path) -> str:
    """A picture's attachment name: its stem in a stage step, its path in the `figures` one."""
    return png.stem if stage_of(png) else png.relative_to(out_dir).as_posix()


def run_pictures(out_dir: Path) -> list[Path]:
    """The run folder's PNGs, sorted; hidden names are pictures still being written."""
    if not out_dir.is_dir():
        return []
    return sorted(p for p in out_dir.rglob("*.png") if not p.name.startswith("."))


def _step(title: str):
    return allure.step(title) if AVAILABLE else nullcontext()


def _attach_json(obj: Any, name: str) -> None:
    if AVAILABLE:
        body = json.dumps(obj, indent=2, default=str)
        allure.attach(body, name=name, attachment_type=AttachmentType.JSON)


def _attach_png(path: Path, name: str) -> None:
    if AVAILABLE:
        allure.attach.file(str(path), name=name, attachment_type=AttachmentType.PNG)


class _StepStop(AssertionError):
    """Raised inside the stopping gate's step so Allure shows that step as failed."""


@contextmanager
def _failing_step(title: str) -> Iterator[None]:
    try:
        with _step(title):
            yield
            raise _StepStop(title)
    except _StepStop:
        pass


def labels(
    item: Any, verdict: Verdict, runner: str, device: str | None, run_id: str, story: str = ""
) -> None:
    """Suite/feature from the folder and tier, the gate as a tag, severity, stable parameters;
    the description says what was expected, what the run did and how that reads (`story`)."""
    if not AVAILABLE:
        return
    scenario = item.loaded.scenario
    try:
        folder = item.path.parent.relative_to(item.config.rootpath).as_posix()
    except ValueError:
        folder = item.path.parent.name
    folder = folder if folder not in ("", ".") else item.config.rootpath.name
    allure.dynamic.title(scenario.name)
    allure.dynamic.description(
        f"{scenario.description or ''}\n\nexpect: {scenario.expect}\n\n"
        f"verdict: {verdict.gate} ({verdict.outcome}): {verdict.reason}"
        + (f"\n\noutcome: {story}" if story else "")
    )
    allure.dynamic.label(LabelType.PARENT_SUITE, f"tier{scenario.tier}")
    allure.dynamic.label(LabelType.SUITE, folder)
    allure.dynamic.feature(folder)
    allure.dynamic.story(f"tier{scenario.tier}")
    allure.dynamic.tag(f"gate:{verdict.gate}")
    allure.dynamic.tag(f"expect:{scenario.expect}")
    critical = scenario.tier == 2 or "smoke" in scenario.markers
    allure.dynamic.severity(Severity.CRITICAL if critical else Severity.NORMAL)
    # The history id is md5(fullName + non-excluded parameters): runner and device keep a
    # scenario on cpu and on the Jetson (or on two farm boards) apart; the run id is
    # excluded so trends survive.
    allure.dynamic.parameter("runner", runner)
    allure.dynamic.parameter("device", device or "unknown")
    allure.dynamic.parameter("run id", run_id, excluded=True)


def device_parameters(place: str, tags: dict[str, str]) -> None:
    """A farm board as the `device` parameter (one history per board, whatever its run
    reached) and its labgrid tags beside it (shown, not in the history id: a retag keeps it)."""
    if AVAILABLE:
        allure.dynamic.parameter("device", place)
        board = " ".join(f"{k}={v}" for k, v in sorted(tags.items()))
        allure.dynamic.parameter("board", board or "(no tags)", excluded=True)


def report_run(
    item: Any,
    verdict: Verdict,
    record_path: Path,
    record: Record | None,
    out_dir: Path,
    **info: Any,
) -> list[Path]:
    """Steps, attachments and labels for one finished run (`record`: its parsed record, None
    where it cannot be read), inside the current Allure test; returns the pictures attached
    (those there now: the others come later, see allure_late)."""
    if not AVAILABLE:
        return []
    prov = record.provenance if record else {}
    labels(
        item,
        verdict,
        info.get("runner") or prov.get("runner") or "?",
        info.get("device") or prov.get("device"),  # a farm board: its place
        info.get("run_id", ""),
        info.get("story", ""),
    )
    allure.dynamic.parameter(RUN_FOLDER, str(out_dir), excluded=True)
    attached = run_pictures(out_dir)
    for stage, _ in STAGES:
        _stage_step(stage, record, [p for p in attached if stage_of(p) == stage])
    more = [p for p in attached if stage_of(p) is None]
    if more:  # figures no stage claims (by file-name prefix) still reach the report
        with _step(f"{MORE}: {len(more)} more"):
            for png in more:
                _attach_png(png, picture_name(png, out_dir))
    _gates_step(verdict)
    if record_path.is_file():
        allure.attach.file(
            str(record_path),
            name="run record (record.jsonl)",
            attachment_type=AttachmentType.TEXT,
            extension="jsonl",
        )
    if record and record.condition:
        _attach_json(record.scenario, "resolved scenario")
        _attach_json(record.config, "stack settings (resolved)")
        _attach_json(record.provenance, "provenance")
    stderr = out_dir / "stderr.log"
    if stderr.is_file() and stderr.stat().st_size:
        allure.attach.file(str(stderr), name="stderr.log", attachment_type=AttachmentType.TEXT)
    return attached


def _stage_step(stage: str, record: Record | None, pngs: list[Path]) -> None:
    events = list(record.select(stage)) if record else []
    if not events and not pngs:
        if stage in ALWAYS_SHOWN:  # the reader sees where the chain stopped, greyed out
            with contextlib.suppress(pytest.skip.Exception), _step(f"{stage}: not reached"):
                pytest.skip("the run stopped before this stage")
        return
    counts = Counter(e.get("type", "?") for e in events)
    summary = ", ".join(f"{n} {t}" for t, n in sorted(counts.items())) or "figures only"
    with _step(f"{stage}: {summary}"):
        for ev in events:
            if stage == "provisioning" and ev.get("type") == "check":
                ok = "ok" if ev.get("ok") else "FAILED"
                title = f"{ev.get('backbone')}: {ev.get('check')} {ok}: {ev.get('detail', '')}"
                with _step(title) if ev.get("ok") else _failing_step(title):
                    pass
        if events:
            _attach_json(events[:MAX_EVENTS], f"{stage} events ({len(events)})")
        for png in pngs:
            _attach_png(png, png.stem)


def _gates_step(verdict: Verdict) -> None:
    """One sub-step per ladder gate up to where the run stopped, that one marked failed."""
    with _step(f"gates: {verdict.gate} ({verdict.outcome})"):
        stop = verdict.rank if verdict.rank is not None else -1
        unjudged = verdict.metrics.get(NOT_JUDGED) or {}
        for gate in LADDER[: max(stop, 0)]:
            said = f"n/a (not judged: {unjudged[gate]})" if gate in unjudged else "passed"
            with _step(f"{gate}: {said}"):
                if gate in verdict.metrics:
                    _attach_json(verdict.metrics[gate], f"{gate} metrics")
        title = f"{verdict.gate}: {verdict.outcome}: {verdict.reason}"[:300]
        stopped = (
            _failing_step(title)
            if verdict.outcome in ("fail", "no-data", "error")
            else (_step(title))
        )
        with stopped:
            _attach_json(verdict.as_dict(), "verdict")


def drop_older_results(results: Path, since: float) -> int:
    """Remove results, containers and attachments written before `since` (not history/)."""
    dropped = 0
    for path in results.iterdir():
        if path.is_file() and path.stat().st_mtime < since:
            path.unlink(missing_ok=True)
            dropped += 1
    return dropped


def write_side_files(results: Path, rows: list[Any], build_order: int, run_id: str) -> None:
    """categories.json, environment.properties and executor.json for one session."""
    results.mkdir(parents=True, exist_ok=True)
    (results / "categories.json").write_text(json.dumps(categories(), indent=2), encoding="utf-8")

    def values(key: str) -> str:
        found = sorted({str(getattr(r, key)) for r in rows if getattr(r, key, None)})
        return ", ".join(found) or "none"

    env = {
        "run.id": run_id,
        "git.sha": values("git_sha"),
        "runner": values("runner"),
        "device": values("device"),
        "image.digest": values("image_digest"),
        "checkpoint.sha256": values("checkpoint_sha256"),
        "clip.hash": values("clip_hash"),
        "corpus.hash": values("corpus_hash"),
        "scenarios": str(len(rows)),
    }
    lines = [f"{k}={v.encode('ascii', 'replace').decode()}" for k, v in env.items()]
    (results / "environment.properties").write_text("\n".join(lines) + "\n", encoding="ascii")
    executor = {
        "name": "harness",
        "type": "pytest",
        "buildOrder": build_order,
        "buildName": f"harness run {run_id} ({values('runner')} on {values('device')})",
    }
    (results / "executor.json").write_text(json.dumps(executor, indent=2), encoding="utf-8")


def start_listener(config: Any, results: Path) -> None:
    """Start allure-pytest's listener and file writer, as its own `--alluredir` would."""
    if not AVAILABLE:
        return
    import allure_commons
    from allure_commons.logger import AllureFileLogger
    from allure_pytest.listener import AllureListener

    listener = AllureListener(config)
    config.pluginmanager.register(listener, "allure_listener")
    allure_commons.plugin_manager.register(listener)
    file_logger = AllureFileLogger(str(results), False)
    allure_commons.plugin_manager.register(file_logger)

    def clean_up() -> None:
        for plugin in (listener, file_logger):
            name = allure_commons.plugin_manager.get_name(plugin)
            allure_commons.plugin_manager.unregister(name=name)

    config.add_cleanup(clean_up)


def full_name(item: Any) -> str:
    """The test's Allure full name (what its history id is made from); "" without Allure."""
    if not AVAILABLE:
        return ""
    from allure_pytest.utils import allure_full_name

    return allure_full_name(item)


def report_crash(
    results: Path,
    *,
    name: str,
    full_name: str,
    verdict: Verdict,
    runner: str,
    device: str,
    run_id: str,
    out_dir: Path,
) -> None:
    """A result for a test whose worker died (so allure-pytest never wrote one): broken, with
    the verdict's reason, under the same history id as the scenario's other runs."""
    if not AVAILABLE:
        return
    import uuid

    from allure_commons.logger import AllureFileLogger
    from allure_commons.model2 import Label, Parameter, Status, StatusDetails, TestResult
    from allure_commons.utils import md5, now, represent

    # Values as allure.dynamic.parameter stores them (repr'ed): the same history id as the
    # scenario's normal runs, md5(full name, then non-excluded values sorted by name).
    runner, device = represent(runner), represent(device)
    parameters = [
        Parameter(name="runner", value=runner),
        Parameter(name="device", value=device),
        Parameter(name="run id", value=run_id, excluded=True),
        Parameter(name=RUN_FOLDER, value=str(out_dir), excluded=True),
    ]
    result = TestResult(
        uuid=str(uuid.uuid4()),
        name=name,
        fullName=full_name,
        historyId=md5(full_name, device, runner),
        testCaseId=md5(full_name),
        status=Status.BROKEN,
        statusDetails=StatusDetails(message=f"{verdict.gate}: {verdict.reason}"),
        labels=[Label(name=LabelType.TAG, value=f"gate:{verdict.gate}")],
        parameters=parameters,
        start=now(),
        stop=now(),
    )
    results.mkdir(parents=True, exist_ok=True)
    AllureFileLogger(str(results), False).report_result(result)


def adjudication_step(line: str, attempts: list[Any]) -> None:
    """A step with the flake adjudication's figures and one sub-step per attempt."""
    if not AVAILABLE:
        return
    with _step(f"gate move adjudicated: {line}"):
        for a in attempts:
            title = f"attempt {a.number}: {a.gate} ({a.status})"
            if a.landed:
                with _step(title):
                    pass
            else:
                with _failing_step(title):
                    pass
        _attach_json([vars(a) for a in attempts], "attempts")
