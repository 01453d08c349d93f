"""Load a scenario and its operator config, apply dotted overrides, report every problem at once."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap

from harness.config import OperatorConfig
from harness.scenario import SCENARIO_SUFFIX
from harness.scenario.model import FORMAT_VERSION, Scenario
from harness.scenario.problems import (
    Problem,
    ScenarioInvalid,
    Source,
    did_you_mean,
    from_validation,
    internal_problem,
    position,
    quote,
)
from harness.scenario.strict import coercions
from harness.scenario.yamlsafe import read_tree


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
    """The YAML tree with positions, read within bounds; a refusal is a located Problem."""
    return read_tree(path)[0]


_INDEX = re.compile(r"[0-9]+")


def _override_key_problem(key: str) -> str | None:
    """Why `key` cannot name a place in the operator config, or None."""
    if not key.strip():
        return "an empty key names nothing; write a dotted key such as c2_vpr.top_k"
    if any(not part.strip() for part in key.split(".")):
        return f"{quote(key)} has an empty part between dots; write a dotted key such as a.b.0.c"
    return None


def _apply_override(tree: Any, dotted: str) -> tuple[Any, Any] | str:
    """(parent container, final key) for `dotted`, or a message saying where it went wrong."""
    parts: list[Any] = dotted.split(".")
    node = tree
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(map(str, parts[:i]))
        if isinstance(node, list):
            if not _INDEX.fullmatch(part) or int(part) >= len(node):
                digits = " (write indices with the digits 0-9)" if part.isdigit() else ""
                return (
                    f"{where} is a list of {len(node)}; {quote(part)} is not an index in it{digits}"
                )
            parts[i] = int(part)
        elif isinstance(node, dict):
            if part not in node and not last:
                return f"no key {quote(part)}; {did_you_mean(part, [str(k) for k in node])}"
        else:
            return f"{where} is a value, not a mapping or list"
        if last:
            return node, parts[i]
        node = node[parts[i]]
    raise AssertionError("unreachable")


def _config_path(tree: CommentedMap, root: Path, source: Source) -> Path | Problem:
    """The operator config's path, or the problem with the `config:` value."""
    config_rel = tree["config"]
    try:
        config_path = Path(config_rel) if Path(config_rel).is_absolute() else root / config_rel
        if config_path.is_file():
            return config_path
        msg = f"operator config {quote(str(config_path), 200)} does not exist"
    except (OSError, ValueError) as exc:  # too long, a NUL byte, ...
        msg = f"operator config path cannot be used ({quote(str(exc))})"
    return source.at(tree, ("config",), f"{msg}; fix the path (relative to {root})")


@functools.lru_cache(maxsize=8)
def _read_config_at(path: Path, mtime_ns: int, size: int) -> tuple[Any, Source]:
    return read_tree(path)


def _read_config(path: Path) -> tuple[Any, Source]:
    """The operator config's tree, read once per version of the file (many scenarios share it).

    Callers copy the tree before changing it."""
    try:
        stat = path.stat()
    except OSError:
        return read_tree(path)  # reports why it cannot be read
    return _read_config_at(path, stat.st_mtime_ns, stat.st_size)


def load(path: Path, root: Path | None = None) -> Loaded:
    """Load and validate; raises ScenarioInvalid listing every problem found."""
    path = Path(path)
    root = root or project_root(path.parent)
    tree, source = read_tree(path)
    if not isinstance(tree, CommentedMap):
        raise ScenarioInvalid([source.problem(1, 1, "", "a scenario is a mapping of keys")])
    version = tree.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        msg = (
            f"format_version {quote(version)} is not supported; "
            f"this harness reads {FORMAT_VERSION} (write `format_version: {FORMAT_VERSION}`)"
        )
        raise ScenarioInvalid([source.at(tree, ("format_version",), msg)])
    problems = coercions(tree, Scenario, source)
    try:
        scenario = Scenario.model_validate(tree)
    except ValidationError as exc:
        problems += from_validation(exc, Scenario, source, tree)
        scenario = None
    if not isinstance(tree.get("config"), str):
        raise ScenarioInvalid(problems)
    config_path = _config_path(tree, root, source)
    if isinstance(config_path, Problem):
        raise ScenarioInvalid([*problems, config_path])
    config_tree, config_source = _read_config(config_path)
    resolved = copy.deepcopy(config_tree)
    overridden: dict[str, str] = {}
    overrides = tree.get("overrides")
    for key, value in (overrides or {}).items() if isinstance(overrides, dict) else ():
        if not isinstance(key, str):
            continue  # the schema reports a key that is not a string
        target = _override_key_problem(key) or _apply_override(resolved, key)
        if isinstance(target, str):
            problems.append(source.at(tree, ("overrides", key), target))
            continue
        parent, last = target
        parent[last] = value
        overridden[key] = key
    config_problems = coercions(resolved, OperatorConfig, config_source)
    config = None
    try:
        config = OperatorConfig.model_validate(resolved)
    except ValidationError as exc:
        config_problems += from_validation(exc, OperatorConfig, config_source, config_tree)
    for p in config_problems:
        hit = next((k for k in overridden if p.where == k or p.where.startswith(f"{k}.")), None)
        if hit is not None:  # the bad value came from the scenario: point there
            p = source.at(tree, ("overrides", hit), p.message)
        problems.append(p)
    problems += _missing_files(tree, scenario, root, source)
    if problems or scenario is None or config is None:
        raise ScenarioInvalid(problems)
    line, _ = position(tree, ("name",))
    return Loaded(path, root, scenario, config, config_path, line)


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
