"""The stage interface a system under test implements, and what flows between its stages.

The reference pipeline implements it; an onboard stack plugs in its own through the
`harness.pipelines` entry-point group without changes to the plugin, runners or gates.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.errors import HarnessError, ScenarioError

if TYPE_CHECKING:
    from harness.clip.bundle import Clip
    from harness.clip.corpus import TileCorpus
    from harness.config import Backbone, OperatorConfig
    from harness.record import RecordWriter
    from harness.scenario.load import Loaded
    from harness.scenario.model import Scenario


class StageStop(HarnessError):
    """A stage could not do its work for a product reason; the gates judge what was recorded."""


@dataclass
class Engine:
    """A provisioned backbone: what `compile_engines_for_corpus` made of one config entry."""

    backbone: Backbone
    weights_path: Path
    sha256: str
    model: Any = None  # set by deserialize_engine
    normalisation: dict | None = None  # the checkpoint's recorded input normalisation, if any


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
    """What every stage gets: the loaded scenario, the record, the clip, the cache."""

    loaded: Loaded
    record: RecordWriter
    cache_dir: Path
    out_dir: Path
    clip: Clip | None = None
    corpus: TileCorpus | None = None  # the scenario's `corpus:`, else the clip's; None if neither
    _pending: list[tuple[str, str, dict[str, Any]]] | None = field(default_factory=list)

    @property
    def scenario(self) -> Scenario:
        return self.loaded.scenario

    @property
    def config(self) -> OperatorConfig:
        return self.loaded.config

    def emit(self, stage: str, type: str, **fields: Any) -> None:
        """Record an event (held back until the condition line is written)."""
        if self._pending is not None:
            self._pending.append((stage, type, fields))
        else:
            self.record.event(stage, type, **fields)

    def flush_pending(self) -> None:
        pending, self._pending = self._pending or [], None
        for stage, type, fields in pending:
            self.record.event(stage, type, **fields)


class Pipeline(Protocol):
    """The system under test, stage by stage. Each stage records its events via `ctx.emit`."""

    def provision(self, ctx: RunContext) -> list[Engine]:
        """compile_engines_for_corpus + deserialize_engine; StageStop on a failed check."""

    def fixes(self, ctx: RunContext, engines: list[Engine]) -> list[Fix]:
        """The VPR strategy: frames -> retrieved tiles -> position fixes."""

    def navigate(self, ctx: RunContext, fixes: list[Fix]) -> None:
        """The filter: IMU + fixes -> state estimates."""


def find_pipeline(name: str) -> Pipeline:
    """The pipeline registered as `name` in the `harness.pipelines` entry-point group, or a
    `module:Class` import path (an onboard stack under development, not yet packaged)."""
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)()
        except (ImportError, AttributeError) as exc:
            raise ScenarioError(f"pipeline {name!r} cannot be imported: {exc}") from None
    found = {ep.name: ep for ep in entry_points(group="harness.pipelines")}
    if name not in found:
        raise ScenarioError(
            f"pipeline {name!r} is not installed; installed: {', '.join(sorted(found)) or 'none'}"
        )
    return found[name].load()()
