"""Load a scenario with its stack's section (and what that section names), reporting every
problem at once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap

from harness.errors import ScenarioError
from harness.scenario import SCENARIO_SUFFIX
from harness.scenario.migrate import upgrade
from harness.scenario.model import FORMAT_VERSION, READS, Scenario, StackSettings
from harness.scenario.problems import (
    Problem,
    ScenarioInvalid,
    Source,
    from_validation,
    internal_problem,
    position,
    quote,
)
from harness.scenario.stacks import installed, owner_of, scenario_model
from harness.scenario.strict import coercions
from harness.scenario.yamlsafe import read_tree


@dataclass(frozen=True)
class Loaded:
    """A valid scenario (its stack's model) with the stack's resolved settings; paths are
    absolute."""

    path: Path
    root: Path
    scenario: Scenario
    settings: StackSettings
    line: int  # where the scenario's `name` is, for pytest's reported location

    def resolve(self, p: Path) -> Path:
        return p if p.is_absolute() else self.root / p

    def settings_hash(self) -> str:
        """sha256 of the resolved settings as the record stores them (the ledger's
        config_hash)."""
        blob = json.dumps(self.settings.dump(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


def project_root(start: Path) -> Path:
    """Nearest ancestor holding pyproject.toml or .git: relative paths resolve against it."""
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / "pyproject.toml").exists() or (folder / ".git").exists():
            return folder
    return start.resolve()


def read_yaml(path: Path) -> Any:
    """The YAML tree with positions, read within bounds; a refusal is a located Problem."""
    return read_tree(path)[0]


def load(path: Path, root: Path | None = None) -> Loaded:
    """Load and validate with the named stack's scenario model; raises ScenarioInvalid
    listing every problem found."""
    path = Path(path)
    root = root or project_root(path.parent)
    tree, source = read_tree(path)
    if not isinstance(tree, CommentedMap):
        raise ScenarioInvalid([source.problem(1, 1, "", "a scenario is a mapping of keys")])
    version = tree.get("format_version")
    if type(version) is not int or version not in READS:
        msg = (
            f"format_version {quote(version)} is not supported; this harness reads "
            f"{' and '.join(map(str, READS))} (write `format_version: {FORMAT_VERSION}`)"
        )
        raise ScenarioInvalid([source.at(tree, ("format_version",), msg)])
    if version == 1:
        upgrade(tree)
    model, problems = _model(tree, source, root)
    problems += coercions(tree, model, source)
    try:
        scenario = model.model_validate(tree)
    except ValidationError as exc:
        found = from_validation(exc, model, source, tree)
        if model is Scenario:  # the stack is unknown: its own keys cannot be judged
            found = [p for p in found if not p.message.startswith("unknown key")]
        problems += [_other_stacks_key(p, tree) for p in found]
        scenario = None
    settings, more = model.resolve_settings(tree, source, root)
    problems += more
    problems += _missing_files(tree, scenario, root, source)
    if problems or scenario is None or settings is None:
        raise ScenarioInvalid(problems or [internal_problem(path, ValueError("no problem named"))])
    line, _ = position(tree, ("name",))
    return Loaded(path, root, scenario, settings, line)


def _other_stacks_key(problem: Problem, tree: CommentedMap) -> Problem:
    """An unknown top-level key that belongs to another stack's section says so."""
    key = problem.where
    if not problem.message.startswith("unknown key") or "." in key:
        return problem
    owner = owner_of(key)
    if owner is None:
        return problem
    message = (
        f"`{key}:` is read only with `pipeline: {owner}` (it is that stack's section; this "
        f"scenario runs {quote(tree.get('pipeline'))}); set that, or remove the block"
    )
    return replace(problem, message=message)


def _model(tree: CommentedMap, source: Source, root: Path) -> tuple[type[Scenario], list[Problem]]:
    """The scenario model of the stack the file names, or the shared one and the problem."""
    name = tree.get("pipeline")
    if name is None:
        return Scenario, []  # the shared model reports the missing key
    if not isinstance(name, str) or not name:
        msg = f"{quote(name)} is not a stack's name; use one of {', '.join(installed())}"
        return Scenario, [source.at(tree, ("pipeline",), msg)]
    try:
        return scenario_model(name, root), []
    except ScenarioError as exc:
        return Scenario, [source.at(tree, ("pipeline",), str(exc))]


def check(path: Path, root: Path | None = None) -> Loaded | list[Problem]:
    """The loaded scenario, or its problems; never raises, whatever the file holds."""
    try:
        return load(path, root)
    except ScenarioInvalid as exc:
        return exc.problems
    except Exception as exc:  # a bug of ours: one located report for this file all the same
        return [internal_problem(path, exc)]


def duplicate_name(loaded: Loaded, first: Loaded) -> Problem:
    """`loaded` has the name `first` already has: records and ledger rows would collide."""
    message = (
        f"name {loaded.scenario.name!r} is also the name of {first.path}:{first.line}; "
        "names are unique in a session (run records and ledger rows are keyed by name): "
        "rename one"
    )
    return Problem(loaded.path, loaded.line, 1, "name", message)


def _missing_files(
    tree: Any, scenario: Scenario | None, root: Path, source: Source
) -> list[Problem]:
    """A `corpus: path:` or `clip: recording:` file that does not exist, located at its key."""
    if scenario is None:
        return []
    wanted = []
    if scenario.corpus is not None and scenario.corpus.path is not None:
        wanted.append((("corpus", "path"), scenario.corpus.path, f"{scenario.corpus.kind} corpus"))
    rec = scenario.clip.recording
    if rec is not None:
        wanted.append((("clip", "recording", "path"), rec.path, f"{rec.kind} recording"))
        if rec.video is not None:
            wanted.append((("clip", "recording", "video"), rec.video, "video"))
    problems = []
    for keys, rel, what in wanted:
        full = rel if rel.is_absolute() else root / rel
        if not full.exists():
            msg = f"{what} {full} does not exist; fix the path (relative to {root})"
            problems.append(source.at(tree, keys, msg))
    return problems


def lint(paths: list[Path]) -> list[Problem]:
    """Every problem in every scenario under `paths` (files or folders), names compared."""
    problems: list[Problem] = []
    by_name: dict[str, Loaded] = {}
    for path in discover(paths):
        result = check(path)
        if isinstance(result, list):
            problems += result
        elif (first := by_name.setdefault(result.scenario.name, result)) is not result:
            problems.append(duplicate_name(result, first))
    return problems


def discover(paths: list[Path]) -> list[Path]:
    """Scenario files under `paths` (a file is taken as named), each once."""
    found: dict[Path, None] = {}
    for p in paths:
        p = Path(p)
        try:
            batch = sorted(p.rglob(f"*{SCENARIO_SUFFIX}")) if p.is_dir() else [p]
        except (OSError, ValueError):
            batch = [p]  # reading it reports why
        found.update(dict.fromkeys(batch))
    return list(found)
