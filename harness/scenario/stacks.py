"""The stacks under test a scenario can name: the `harness.pipelines` entry points (or a
`module:Class` path for a stack under development), and the scenario model each brings.

A stack's class carries `scenario_model`, a subclass of `harness.scenario.model.Scenario`
with the stack's own section; the framework composes nothing else, so a stack brings its
settings and the framework knows none of them.
"""

from __future__ import annotations

import functools
import importlib
import sys
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from harness.errors import ScenarioError
from harness.scenario.model import Scenario

GROUP = "harness.pipelines"


@functools.cache
def _registered() -> dict[str, EntryPoint]:
    """The entry points of the group, read once per process (every scenario load asks)."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def installed() -> list[str]:
    """The names of the installed stacks, sorted."""
    return sorted(_registered())


def pipeline_class(name: str, root: Path | None = None) -> Any:
    """The class registered as `name`, or named by a `module:Class` path, importable from the
    project root `root` (added to sys.path, as the run's working directory is for its
    process); ScenarioError naming the installed ones when there is none.

    The module is imported where scenarios are loaded (to read its scenario model), so a
    stack keeps heavy imports inside its methods."""
    if ":" in name:
        if root is not None and str(root) not in sys.path:
            sys.path.insert(0, str(root))
        module, _, attr = name.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ScenarioError(f"pipeline {name!r} cannot be imported: {exc}") from None
    found = _registered()
    if name not in found:
        raise ScenarioError(
            f"pipeline {name!r} is not installed; installed: {', '.join(installed()) or 'none'}"
        )
    try:
        return found[name].load()
    except ImportError as exc:  # a stack whose own dependencies are not installed here
        raise ScenarioError(f"pipeline {name!r} cannot be loaded: {exc}") from None


def scenario_model(name: str, root: Path | None = None) -> type[Scenario]:
    """The scenario model of stack `name`: its own, or the shared one for a stack that adds
    no section."""
    model = getattr(pipeline_class(name, root), "scenario_model", Scenario)
    if not (isinstance(model, type) and issubclass(model, Scenario)):
        raise ScenarioError(
            f"pipeline {name!r}: its scenario_model is not a subclass of "
            "harness.scenario.model.Scenario"
        )
    return model


def owner_of(key: str) -> str | None:
    """The installed stack whose section has top-level `key` (for a key this scenario's stack
    does not know), or None."""
    for name in installed():
        try:
            model = scenario_model(name)
        except ScenarioError:
            continue  # a broken stack is reported where a scenario names it
        if key in model.model_fields and key not in Scenario.model_fields:
            return name
    return None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file for editors: one branch per installed stack, chosen
    by `pipeline`, each with the shared keys and that stack's own section (a stack whose own
    dependencies are missing here has none: its scenarios cannot run here either)."""
    from typing import Annotated, Literal, Union

    from pydantic import Field, TypeAdapter, create_model

    branches = []
    for name in installed():
        try:
            model = scenario_model(name)
        except ScenarioError:
            continue
        branches.append(
            create_model(
                model.__name__,
                __base__=model,
                pipeline=(Literal[name], Field(description="the stack under test")),
            )
        )
    if not branches:
        return Scenario.model_json_schema()
    union = Annotated[Union[tuple(branches)], Field(discriminator="pipeline")]  # noqa: UP007
    schema = TypeAdapter(union).json_schema()
    schema["title"] = "harness scenario (format_version 2)"
    return schema
