"""The process adapter's section of a scenario: the `process:` block naming the black-box stack
(a program, or a command in a local image), registered with `ProcessPipeline.scenario_model`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field

from harness.scenario.model import Scenario, StackFile, StrictModel
from harness.scenario.problems import Problem, Source


def _as_arg(value: Any) -> Any:
    """A number in a command line is its text: `--agl-m, 300` as `--agl-m, "300"`."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


Arg = Annotated[str, BeforeValidator(_as_arg)]


class ProcessSpec(StrictModel):
    """`pipeline: process`: the stack under test is a program (any language) or a container
    that reads the stack input folder and writes JSONL on stdout (docs/adapters.md)."""

    command: list[Arg] = Field(min_length=1)  # argv; "{input}" becomes the input folder
    # Host folders a `command:` stack reads besides its program's (a runtime, a virtual
    # environment, weights), shown read-only at the same path in its sandbox; relative paths
    # from the project root. None may hold the project root, .cache or reports/.
    mounts: list[str] = Field(default_factory=list)
    image: str | None = None  # run the command in this local image (docker run, no network)
    name: str = "stack"  # how provisioning checks and latency samples name the stack
    corpus: Literal["local-grid", "xyz"] = "local-grid"
    speed: float = Field(1.0, gt=0)  # frames are released at this multiple of real time
    # The query rate the stack is held to: the first frame at or after each 1/rate_hz tick
    # must get a `query` and a `fix`, else it counts as missed. None: the stack makes none.
    rate_hz: float | None = Field(1.0, gt=0)
    # The stack's own deadline; unset: 90 % of the scenario's timeout_s, so the adapter
    # reports a hang (with the stack's stderr) before the runner kills the whole run.
    timeout_s: float | None = Field(None, gt=0)


@dataclass(frozen=True)
class ProcessSettings:
    """What a process stack's run reads from the project: its program, when the command names
    one by path (a program on PATH or in an image is not a project file), and the folders of
    `mounts` given relative to the project (an absolute one is the machine's own)."""

    program: Path | None
    mounts: tuple[Path, ...] = ()

    def dump(self) -> dict[str, Any]:
        return {}

    def files(self) -> list[StackFile]:
        found = [StackFile("mount", m, None) for m in self.mounts]
        if self.program is not None:
            found.insert(0, StackFile("program", self.program, ("process", "command", 0)))
        return found


class ProcessScenario(Scenario):
    """A scenario of a black-box stack: the shared keys plus `process:`."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="process scenario")

    process: ProcessSpec | None = None  # required: a missing block is named at `pipeline:`

    @classmethod
    def resolve_settings(
        cls, tree: Any, source: Source, root: Path
    ) -> tuple[ProcessSettings | None, list[Problem]]:
        block = tree.get("process")
        if block is None:
            msg = (
                "`pipeline: process` runs the command of a `process:` block; add one, e.g. "
                "process: {command: [path/to/stack, --flag]} (docs/adapters.md)"
            )
            return None, [source.at(tree, ("pipeline",), msg)]
        block = block if isinstance(block, dict) else {}
        command, mounts = block.get("command"), block.get("mounts")
        program = command[0] if isinstance(command, list) and command else None
        relative = [
            root / m for m in mounts or () if isinstance(m, str) and not Path(m).is_absolute()
        ]
        if not isinstance(program, str) or "/" not in program or block.get("image"):
            return ProcessSettings(None, tuple(relative)), []
        path = Path(program)
        return ProcessSettings(path if path.is_absolute() else root / path, tuple(relative)), []
