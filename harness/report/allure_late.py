"""Pictures made after their scenario's Allure result was written, added into that result.

The scenario item does not wait for its pictures (harness.report.figure_jobs): allure-pytest
writes the test's `<uuid>-result.json` when the item ends, with the pictures that were there
by then. When the helper answers for a run, its other pictures are copied into the results
folder as `<uuid>-attachment.png` and added to the stage step each belongs to (the prefix rule
of `allure_report.STAGES`, unclaimed ones into "figures: N more"), and the result file is
rewritten atomically, so the finished report looks as if they had been there all along. The
result is found by its excluded `run folder` parameter: the documented result format only,
no allure-pytest internals. A missing picture or result is logged, never an error.
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness import atomic
from harness.report.allure_report import (
    MORE,
    RUN_FOLDER,
    STAGES,
    picture_name,
    run_pictures,
    stage_of,
)

log = logging.getLogger(__name__)
_RANK = {stage: rank for rank, (stage, _) in enumerate(STAGES)} | {MORE: len(STAGES)}


class LatePictures:
    """The runs whose Allure result was written before their pictures, for one results folder."""

    def __init__(self, results: Path) -> None:
        self.results = results
        self._waiting: dict[Path, set[Path]] = {}  # run folder -> the pictures attached already
        self._found: dict[str, tuple[int, Path]] = {}  # run folder -> (result's stop, file)
        self._read: set[str] = set()  # result files looked into already

    def expect(self, out_dir: Path, attached: Iterable[Path]) -> None:
        """This run's result is (being) written with `attached`; the rest come later."""
        self._waiting[out_dir] = set(attached)

    def attach(self, finished: Iterable[Path]) -> None:
        """Add the pictures of these runs (the helper answered for them) to their results."""
        for out_dir in finished:
            if out_dir not in self._waiting:
                continue  # attached in time, or not a run of this session's Allure results
            attached = self._waiting.pop(out_dir)
            new = [p for p in run_pictures(out_dir) if p not in attached]
            if not new:
                continue
            result = self.result_for(out_dir)
            if result is None:
                log.warning("allure: no result names run folder %s: no pictures added", out_dir)
                continue
            try:
                add_pictures(self.results, result, out_dir, new)
            except (OSError, ValueError, TypeError, AttributeError) as exc:  # not as written
                log.warning("allure: the pictures of %s are left out: %s", out_dir, exc)

    def result_for(self, out_dir: Path) -> Path | None:
        """The newest result file naming this run folder (results written since are read once)."""
        for path in self.results.glob("*-result.json"):
            if path.name in self._read:
                continue
            self._read.add(path.name)
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                params = {p.get("name"): p.get("value") for p in data.get("parameters", [])}
                stop = int(data.get("stop") or 0)
            except (OSError, ValueError, TypeError, AttributeError) as exc:
                log.warning("allure: unreadable result %s: %s", path, exc)
                continue
            if RUN_FOLDER not in params:
                continue
            # allure-pytest quotes string values; the newest wins if a run id was reused
            key = str(params[RUN_FOLDER]).strip("'")
            if key not in self._found or stop >= self._found[key][0]:
                self._found[key] = (stop, path)
        found = self._found.get(str(out_dir))
        return found[1] if found else None


def add_pictures(results: Path, result: Path, out_dir: Path, pngs: list[Path]) -> None:
    """Copy `pngs` into `results` and add them to the result file's steps, as report_run would
    have; rewrites the file atomically. Raises OSError/ValueError if the result is unusable."""
    data = json.loads(result.read_text(encoding="utf-8"))
    steps = data.setdefault("steps", [])
    if not isinstance(steps, list):
        raise ValueError(f"{result}: its steps are not a list")
    for png in pngs:
        source = f"{uuid.uuid4()}-attachment.png"
        try:
            with atomic.atomic_path(results / source) as tmp:
                shutil.copyfile(png, tmp)
        except OSError as exc:  # removed meanwhile: that picture is simply absent
            log.warning("allure: picture %s left out: %s", png, exc)
            continue
        step = _step_for(steps, stage_of(png) or MORE, data.get("stop") or 0)
        entry = {"name": picture_name(png, out_dir), "source": source, "type": "image/png"}
        step.setdefault("attachments", []).append(entry)
    more = next((s for s in steps if _rank(s) == _RANK[MORE]), None)
    if more is not None:
        more["name"] = f"{MORE}: {len(more.get('attachments', []))} more"
    atomic.write_text(result, json.dumps(data))


def _rank(step: dict[str, Any]) -> int:
    """A top-level step's place: the stage steps in run order, then figures, then the rest."""
    return _RANK.get(str(step.get("name", "")).split(":", 1)[0], len(_RANK))


def _step_for(steps: list[dict[str, Any]], stage: str, at: int) -> dict[str, Any]:
    """The stage's step; made (`<stage>: figures only`, or the `figures` step) where
    report_run puts it when the result has none or shows the stage as not reached."""
    title = f"{MORE}: 0 more" if stage == MORE else f"{stage}: figures only"
    made = {"name": title, "status": "passed", "stage": "finished", "start": at, "stop": at}
    for i, step in enumerate(steps):
        if _rank(step) == _RANK[stage]:
            if step.get("name") == f"{stage}: not reached":
                steps[i] = made
                return made
            return step
    place = next((i for i, s in enumerate(steps) if _rank(s) > _RANK[stage]), len(steps))
    steps.insert(place, made)
    return made
