"""Errors a user can cause in YAML, located at file:line:column with the line quoted and a fix."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from harness.errors import ScenarioError


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int  # 1-based
    col: int  # 1-based
    where: str  # dotted key path, "" for the whole file
    message: str

    def __str__(self) -> str:
        head = f"{self.path}:{self.line}:{self.col}: "
        head += f"{self.where}: {self.message}" if self.where else self.message
        try:
            source = self.path.read_text(encoding="utf-8").splitlines()[self.line - 1]
        except (OSError, IndexError, UnicodeDecodeError):
            return head
        return f"{head}\n    {self.line:>4} | {source}"


class ScenarioInvalid(ScenarioError):
    """One or more problems; str() lists them all."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (str(p.path), p.line, p.col))
        super().__init__("\n".join(str(p) for p in self.problems))


def position(node: Any, loc: tuple[Any, ...]) -> tuple[int, int]:
    """(line, col), 1-based, of the deepest node of `loc` present in the YAML tree."""
    line, col = (
        getattr(getattr(node, "lc", None), "line", 0),
        getattr(getattr(node, "lc", None), "col", 0),
    )
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line, col = node.lc.key(part)
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line, col = node.lc.item(part)
            node = node[part]
        else:
            break
    return line + 1, col + 1


def _inner_model(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    if get_origin(tp) in (Union, UnionType, list, tuple, dict) or get_args(tp):
        for arg in get_args(tp):
            if (found := _inner_model(arg)) is not None:
                return found
    return None


def allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the submodel at `loc` (list indices and union tags are skipped)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return []
        if isinstance(part, str) and part in current.model_fields:
            current = _inner_model(current.model_fields[part].annotation)
    return sorted(current.model_fields) if current else []


def did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"allowed keys here: {', '.join(choices)}" if choices else "remove it"


def from_validation(
    exc: ValidationError,
    model: type[BaseModel],
    path: Path,
    tree: Any,
    prefix: tuple[Any, ...] = (),
) -> list[Problem]:
    """One Problem per pydantic error, each at its YAML position with a fix."""
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p[:1].isupper()))
        where = ".".join(str(p) for p in (*prefix, *loc))
        kind = err["type"]
        if kind == "extra_forbidden":
            message = f"unknown key; {did_you_mean(str(loc[-1]), allowed_keys(model, loc[:-1]))}"
        elif kind == "missing":
            message = f"required key missing; add `{loc[-1]}:`"
        elif kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            choices = [c.strip("'") for c in re.split(r", | or ", expected) if c]
            got = err.get("input")
            message = f"{got!r} is not allowed; use one of {', '.join(choices)}"
            if isinstance(got, str) and (close := difflib.get_close_matches(got, choices, 1)):
                message += f" (did you mean {close[0]!r}?)"
        else:
            message = err["msg"].removeprefix("Value error, ")
        line, col = position(tree, loc)
        problems.append(Problem(path, line, col, where, message))
    return problems
