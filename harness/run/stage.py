"""The stage interface a system under test implements, and what flows between its stages.

The reference pipeline implements it; an onboard stack plugs in its own through the
`harness.pipelines` entry-point group without changes to the plugin, runners or gates.
"""

from __future__ import annotations

import os
from collections.abc import Container
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.errors import DriverKindError, HarnessError
from harness.run import feed
from harness.scenario.stacks import pipeline_class

if TYPE_CHECKING:
    from harness.clip.bundle import Clip
    from harness.clip.corpus import TileCorpus
    from harness.clip.model import Truth
    from harness.record import RecordWriter
    from harness.run.feed import Released
    from harness.scenario.load import Loaded
    from harness.scenario.model import Scenario, StackSettings


# The events only the run driver writes: the answers (`truth`), the run's own errors
# (`setup`) and the frames a stack must answer (`vpr/expected`: a stage that wrote it would
# choose its own denominator), and late provenance (`provenance/artifact`: an artifact declared
# after the condition line, written through `RunContext.artifact` alone). The record's
# condition, end and verdict lines are the driver's and the host's too.
DRIVER_STAGES = ("truth", "setup", "provenance")
DRIVER_EVENTS = (("vpr", "expected"),)


class StageStop(HarnessError):
    """A stage could not do its work for a product reason; the gates judge what was recorded."""


@dataclass(frozen=True)
class Fix:
    """A horizontal position fix from VPR, applied at its image timestamp."""

    t_s: float
    z_ne_m: tuple[float, float]
    sigma_m: float
    source: str  # tile id, or "oracle"
    latency_s: float = 0.0


@dataclass
class RunContext:
    """What every stage gets: the loaded scenario, the record, the clip, the cache.

    Ground truth never reaches the system under test: assigning a clip (`ctx.clip = ...`)
    keeps its truth apart, so `ctx.clip.truth` is always None, and the truth goes to
    `ctx.truth`, the oracle strategy's only (it makes fixes from truth by design). The gates
    read truth from the record, never from a stage.
    """

    loaded: Loaded
    _writer: RecordWriter  # the driver's: a stage writes through `emit` (or `record.event`)
    cache_dir: Path
    out_dir: Path
    runner: str = "local"  # where the driver runs (`--runner`): "docker" in a runner container
    # the oracle's only: no other stage may read it (declared before `clip`, whose assignment
    # fills it in)
    truth: Truth | None = field(default=None, init=False)
    clip: Clip | None = None
    corpus: TileCorpus | None = None  # the scenario's `corpus:`, else the clip's; None if neither
    artifacts: list[dict[str, Any]] = field(default_factory=list)  # see `artifact`
    _pending: list[tuple[str, str, dict[str, Any]]] | None = field(default_factory=list)
    # A throughput sweep's clock for this replay (None: the stack's own pace): an in-process
    # stage's `released()` waits on it, the process adapter releases on it at its speed.
    clock: feed.Clock | None = None
    # A sweep's folder of the frame files its replays released, out of the stack's sight: a
    # process stack's later replays get each file linked from it at release, not decoded and
    # written again (None: no replays share frames).
    frame_store: Path | None = None
    running: str = field(default="", init=False)  # the stack's stage the driver is in now
    refused: DriverKindError | None = field(default=None, init=False)  # a stage's first try

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "clip" and value is not None and value.truth is not None:
            object.__setattr__(self, "truth", value.truth)
            value = replace(value, truth=None)
        object.__setattr__(self, name, value)

    @property
    def scenario(self) -> Scenario:
        return self.loaded.scenario

    @property
    def settings(self) -> StackSettings:
        """The stack's own section, resolved (the reference stack: its operator config)."""
        return self.loaded.settings

    def artifact(
        self,
        kind: str,
        name: str,
        path: Path,
        sha256: str | None,
        pinned: bool,
        pin_hint: str = "",
        figures: dict[str, Any] | None = None,
    ) -> None:
        """Declare a file the stack provisions (a checkpoint, a program, a built engine): it
        goes into the run's provenance (its path relative to the project root when it is
        inside), and an unpinned `checkpoint` is a warning on every verdict. `pin_hint` says
        how to pin it; `figures` what the stack measured of it (an int8 engine's parity).
        One declared after the condition line (an engine built by the first query) is
        recorded as a `provenance/artifact` event, which the record's provenance includes."""
        try:  # as the project names it: the same on every machine
            shown = Path(os.path.abspath(path)).relative_to(os.path.abspath(self.loaded.root))
            shown = shown.as_posix()
        except ValueError:
            shown = str(path)
        entry = {
            "kind": kind,
            "name": name,
            "path": shown,
            "sha256": sha256,
            "pinned": pinned,
            "pin_hint": pin_hint,
            **({"figures": figures} if figures else {}),
        }
        self.artifacts.append(entry)
        if self._pending is None:  # the condition line is written: it cannot list this one
            self.log("provenance", "artifact", artifact=entry)

    def released(self, pixels_of: Container[int] | None = None) -> Released:
        """The clip as the harness's clock releases it (harness.run.feed): IMU, telemetry and
        frames in time order, a frame's pixels (those of `pixels_of`, all when None) only at
        its turn, or in runs up to a time (`until`); the same discipline a process stack gets
        on its stdin."""
        return feed.released(self.clip, pixels_of, self.clock)

    @property
    def record(self) -> StageRecord:
        """The run record as a stage sees it: events of its own, nothing of the driver's."""
        return StageRecord(self)

    def emit(self, stage: str, type: str, **fields: Any) -> None:
        """Record an event of the stack (held back until the condition line is written).
        The driver's kinds are refused: a stage that wrote truth or ended the record would
        choose what the gates compare it with."""
        if stage in DRIVER_STAGES or (stage, type) in DRIVER_EVENTS:
            raise self.refuse(f"wrote a `{stage}/{type}` event")
        if "kind" in fields:  # it would make the line a condition, end or verdict line
            raise self.refuse(f"wrote a `{stage}/{type}` event with kind={fields['kind']!r}")
        self.log(stage, type, **fields)

    def refuse(self, what: str) -> DriverKindError:
        """The config-error for a stage that wrote `what`, kept so that a stage which swallows
        it still fails the run."""
        exc = DriverKindError(
            f"the stack's `{self.running or 'unknown'}` stage ({self.scenario.pipeline}) "
            f"{what}: truth, setup and vpr/expected events and the record's condition, end and "
            "verdict lines are written by the run driver alone; record the stack's own events "
            "under its own stage names (vpr, eskf, provisioning, ...)"
        )
        if self.refused is None:
            self.refused = exc
        return exc

    def log(self, stage: str, type: str, **fields: Any) -> None:
        """The driver's: record an event, held back until the condition line is written."""
        if self._pending is not None:
            self._pending.append((stage, type, fields))
        else:
            self._writer.event(stage, type, **fields)

    def flush_pending(self) -> None:
        pending, self._pending = self._pending or [], None
        for stage, type, fields in pending:
            self._writer.event(stage, type, **fields)


class StageRecord:
    """The record writer a stage gets: `event` only, under the stack's own stage names; the
    condition, end and verdict lines and anything else of the writer are refused."""

    def __init__(self, ctx: RunContext) -> None:
        self._ctx = ctx

    def event(self, stage: str, type: str, **fields: Any) -> None:
        self._ctx.emit(stage, type, **fields)

    def __getattr__(self, name: str) -> Any:
        raise self._ctx.refuse(f"used the record writer's `{name}`")


class Pipeline(Protocol):
    """The system under test, stage by stage. Each stage records its events via `ctx.emit`."""

    scenario_model: type[Scenario]  # the shared keys plus the stack's own section

    def provision(self, ctx: RunContext) -> list[Any]:
        """Check and load what the stack runs (recorded as provisioning events, files declared
        with `ctx.artifact`); StageStop on a failed check. What it returns is the stack's own:
        it is handed to `fixes`."""

    def fixes(self, ctx: RunContext, engines: list[Any]) -> list[Fix]:
        """The VPR strategy: frames -> retrieved tiles -> position fixes. Frames come from
        `ctx.released()`, in time order, as the clock releases them."""

    def navigate(self, ctx: RunContext, fixes: list[Fix]) -> None:
        """The filter: IMU + fixes -> state estimates."""

    # Optional: the query rate the scenario holds the stack to (None: it makes no queries).
    # The driver records the frames it asks for (`vpr/expected`) before the stack runs, and
    # every one of them the stack leaves unanswered is a miss:
    # def query_rate_hz(self, scenario: Scenario) -> float | None: ...


def find_pipeline(name: str, root: Path | None = None) -> Pipeline:
    """An instance of the stack registered as `name` in the `harness.pipelines` entry-point
    group, or of a `module:Class` path under the project root (an onboard stack under
    development, not yet packaged)."""
    return pipeline_class(name, root)()
