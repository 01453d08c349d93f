"""The shared scenario schema: what every stack's scenarios have (clip, segment, gates, expect,
pipeline, tier, markers, timeout). Each stack adds its own section through its entry point
(`harness.scenario.stacks`); pydantic models, strict, with units in key names.

format_version 2 names its `pipeline` always; version 1 files (pipeline defaulting to the
reference stack, an operator config on every file) are read through
`harness.scenario.migrate`, which `harness scenario migrate` also writes back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from harness.clip.spec import ClipRef, CorpusSpec, Segment
from harness.gates import BROKEN, LADDER, NO_DATA
from harness.gates.eskf import EskfDivergenceSpec
from harness.gates.latency import LatencyBudgetSpec
from harness.gates.retrieval import RetrievalQualitySpec
from harness.gates.sweep import SweepSpec
from harness.gates.vpr import VprContractSpec

if TYPE_CHECKING:
    from harness.scenario.problems import Problem, Source

FORMAT_VERSION = 2
READS = (1, 2)  # version 1 is migrated on reading (harness.scenario.migrate)
# Where a scenario may be known to stop: any gate of the ladder, or one of the verdicts that
# check the framework's own honesty (a truncated clip must be no-data, an OOM infra-error);
# those three need an `expect_reason`.
OFF_LADDER = (NO_DATA, *BROKEN)
ExpectGate = Literal[(*LADDER, *OFF_LADDER)]
# A scenario expecting a failing gate (or an off-ladder verdict) pins why it stops there: the
# right gate for another reason (a new trigger, another failed check) is not "as expected".
PINNED = (*LADDER[1:-1], *OFF_LADDER)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class StackFile:
    """A project file a stack's run reads: it travels to a container or a board with the
    scenario, and a failure bundle carries it (a `checkpoint` within the bundle's bound).
    `key` is where the scenario names it, so a bundle can point the copy at its new place."""

    role: str  # "config", "checkpoint", "program", ...
    path: Path  # absolute
    key: tuple[str | int, ...] | None = None


class StackSettings(Protocol):
    """What a stack's section resolves to at load time (files it names read and checked)."""

    def dump(self) -> dict[str, Any]:
        """The resolved settings as the run record's condition line stores them (JSON)."""

    def files(self) -> list[StackFile]:
        """The project files a run of this stack reads."""


@dataclass(frozen=True)
class NoSettings:
    """A stack whose section names no other file: nothing to resolve."""

    def dump(self) -> dict[str, Any]:
        return {}

    def files(self) -> list[StackFile]:
        return []


class GatesSpec(StrictModel):
    vpr_contract: VprContractSpec = VprContractSpec()
    retrieval_quality: RetrievalQualitySpec = RetrievalQualitySpec()
    eskf_divergence: EskfDivergenceSpec = EskfDivergenceSpec()
    latency_budget: LatencyBudgetSpec = LatencyBudgetSpec()


class Scenario(StrictModel):
    """The shared part of every scenario; a stack's scenario model subclasses it with its own
    section (the reference stack: `config`, `overrides`, `vpr`, `eskf`; the process adapter:
    `process`) and may resolve files that section names (`resolve_settings`)."""

    format_version: Literal[1, 2]
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    tier: Literal[1, 2] = 1
    markers: list[str] = []
    clip: ClipRef
    segment: Segment = Segment()
    # The tile corpus retrieval searches (default: the bundle's local-grid corpus).
    corpus: CorpusSpec | None = None
    pipeline: str = Field(min_length=1)  # the stack under test: a `harness.pipelines` entry point
    gates: GatesSpec = GatesSpec()
    # A throughput sweep: the clip replayed again at each of these rates, the highest one
    # the stack sustains judged with the latency budget (harness.gates.sweep).
    sweep: SweepSpec | None = None
    # A regular expression the reason must match when the run stops at `expect`, e.g. "^D1 "
    # for the divergence trigger a fault scenario is about (before `expect`: its check reads it).
    expect_reason: str | None = None
    expect: ExpectGate
    timeout_s: float = Field(900.0, gt=0)

    @field_validator("expect_reason")
    @classmethod
    def _a_regex(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"not a regular expression ({exc}); escape literal ( [ . * + ? with a backslash"
                ) from None
        return pattern

    @field_validator("expect")
    @classmethod
    def _reason_for_a_failing_expect(cls, expect: str, info: ValidationInfo) -> str:
        if "expect_reason" not in info.data:  # it did not validate: that error says why
            return expect
        if expect in PINNED and not info.data["expect_reason"]:
            raise ValueError(
                f"{expect} needs an expect_reason (a regular expression the verdict's reason "
                f"must match, e.g. '^D1 ' for a divergence trigger), so a run that stops at "
                f"{expect} for another reason fails; `harness scenario lint` suggests one from "
                "the last run"
            )
        return expect

    @field_validator("markers")
    @classmethod
    def _marker_names(cls, markers: list[str]) -> list[str]:
        for m in markers:
            if not m.isidentifier():
                raise ValueError(f"marker {m!r} is not a Python identifier (use snake_case)")
        return markers

    @classmethod
    def resolve_settings(
        cls, tree: Any, source: Source, root: Path
    ) -> tuple[StackSettings | None, list[Problem]]:
        """Read and check what the stack's section names (an operator config, say), from the
        YAML tree whatever else is wrong with it, so every problem is reported at once.

        Returns the settings (None when they cannot be made) and the located problems."""
        return NoSettings(), []
