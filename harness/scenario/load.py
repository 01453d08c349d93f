"""Load a scenario and its operator config, apply dotted overrides, report every problem at once."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError

from harness.config import OperatorConfig
from harness.scenario import SCENARIO_SUFFIX
from harness.scenario.model import FORMAT_VERSION, Scenario
from harness.scenario.problems import (
    Problem,
    ScenarioInvalid,
    did_you_mean,
    from_validation,
    position,
)


@dataclass(frozen=True)
class Loaded:
    """A valid scenario with its resolved operator config; paths are absolute."""

    path: Path
    root: Path
    scenario: Scenario
    config: OperatorConfig
    config_path: Path
    line: int  # where the scenario's `name` is, for pytest's reported location

    def resolve(self, p: Path) -> Path:
        return p if p.is_absolute() else self.root / p

    def config_hash(self) -> str:
        blob = json.dumps(self.config.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


def project_root(start: Path) -> Path:
    """Nearest ancestor holding pyproject.toml or .git: relative paths resolve against it."""
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / "pyproject.toml").exists() or (folder / ".git").exists():
            return folder
    return start.resolve()


def read_yaml(path: Path) -> Any:
    """The YAML tree with positions; syntax errors become a Problem at their mark."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read the file ({getattr(exc, 'strerror', None) or exc})"
        raise ScenarioInvalid([Problem(path, 1, 1, "", msg)]) from None
    try:
        return YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        msg = f"YAML syntax error: {exc.problem or exc.context}; fix the indentation or quoting"
        raise ScenarioInvalid([Problem(path, line, col, "", msg)]) from None


def _apply_override(tree: Any, dotted: str) -> tuple[Any, Any] | str:
    """(parent container, final key) for `dotted`, or a message saying where it went wrong."""
    parts: list[Any] = dotted.split(".")
    node = tree
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                where = ".".join(map(str, parts[:i]))
                return f"{where} is a list of {len(node)}; {part!r} is not an index in it"
            parts[i] = int(part)
        elif isinstance(node, dict):
            if part not in node and not last:
                return f"no key {part!r}; {did_you_mean(part, [str(k) for k in node])}"
        else:
            return f"{'.'.join(map(str, parts[:i]))} is a value, not a mapping or list"
        if last:
            return node, parts[i]
        node = node[parts[i]]
    raise AssertionError("unreachable")


def load(path: Path, root: Path | None = None) -> Loaded:
    """Load and validate; raises ScenarioInvalid listing every problem found."""
    path = Path(path)
    root = root or project_root(path.parent)
    tree = read_yaml(path)
    if not isinstance(tree, CommentedMap):
        raise ScenarioInvalid([Problem(path, 1, 1, "", "a scenario is a mapping of keys")])
    version = tree.get("format_version")
    if version != FORMAT_VERSION:
        line, col = position(tree, ("format_version",))
        msg = f"format_version {version!r} is not supported; this harness reads {FORMAT_VERSION}"
        raise ScenarioInvalid([Problem(path, line, col, "format_version", msg)])
    problems: list[Problem] = []
    try:
        scenario = Scenario.model_validate(tree)
    except ValidationError as exc:
        problems += from_validation(exc, Scenario, path, tree)
        scenario = None
    config_rel = tree.get("config")
    if not isinstance(config_rel, str):
        raise ScenarioInvalid(problems)
    config_path = Path(config_rel) if Path(config_rel).is_absolute() else root / config_rel
    if not config_path.is_file():
        line, col = position(tree, ("config",))
        msg = f"operator config {config_path} does not exist; fix the path (relative to {root})"
        raise ScenarioInvalid([*problems, Problem(path, line, col, "config", msg)])
    config_tree = read_yaml(config_path)
    resolved = copy.deepcopy(config_tree)
    overridden: dict[str, str] = {}
    for key, value in (tree.get("overrides") or {}).items():
        target = _apply_override(resolved, str(key))
        if isinstance(target, str):
            line, col = position(tree, ("overrides", key))
            problems.append(Problem(path, line, col, f"overrides.{key}", target))
            continue
        parent, last = target
        parent[last] = value
        overridden[str(key)] = key
    try:
        config = OperatorConfig.model_validate(resolved)
    except ValidationError as exc:
        for p in from_validation(exc, OperatorConfig, config_path, config_tree):
            dotted = p.where
            hit = next(
                (k for k in overridden.values() if dotted == k or dotted.startswith(f"{k}.")), None
            )
            if hit is not None:  # the bad value came from the scenario: point there
                line, col = position(tree, ("overrides", hit))
                p = Problem(path, line, col, f"overrides.{hit}", p.message)
            problems.append(p)
        config = None
    if problems or scenario is None or config is None:
        raise ScenarioInvalid(problems)
    line, _ = position(tree, ("name",))
    return Loaded(path, root, scenario, config, config_path, line)


def lint(paths: list[Path]) -> list[Problem]:
    """Every problem in every scenario under `paths` (files or folders)."""
    problems: list[Problem] = []
    for path in discover(paths):
        try:
            load(path)
        except ScenarioInvalid as exc:
            problems += exc.problems
    return problems


def discover(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        found += sorted(p.rglob(f"*{SCENARIO_SUFFIX}")) if p.is_dir() else [p]
    return found
