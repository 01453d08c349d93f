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

QUOTE_CHARS = 80  # the most of a user's value an error quotes
MESSAGE_CHARS = 400  # the most of one error's text
MAX_PROBLEMS = 200  # the most problems reported for one file


def clip(text: str, limit: int = QUOTE_CHARS) -> str:
    """`text` cut to `limit` characters, saying so (a value may be huge or hostile)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... (cut at {limit} characters)"


def quote(value: Any, limit: int = QUOTE_CHARS) -> str:
    """repr(value) within `limit` characters, built without rendering a huge value whole."""
    if isinstance(value, str | bytes | int | float | bool | type(None)):
        return clip(repr(value[: limit + 1] if isinstance(value, str | bytes) else value), limit)
    return f"a {type(value).__name__}"


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int  # 1-based
    col: int  # 1-based
    where: str  # dotted key path, "" for the whole file
    message: str
    source: str = ""  # the offending line as read (the file is read once, never again)

    def __str__(self) -> str:
        head = f"{self.path}:{self.line}:{self.col}: "
        message = clip(self.message, MESSAGE_CHARS)
        head += f"{clip(self.where)}: {message}" if self.where else message
        if not self.source:
            return head
        return f"{head}\n    {self.line:>4} | {self.source}"


@dataclass(frozen=True)
class Source:
    """A file's text as read once: problems quote their line from here, never re-read it."""

    path: Path
    lines: tuple[str, ...]

    def problem(self, line: int, col: int, where: str, message: str) -> Problem:
        quoted = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in quoted[:161])
        return Problem(self.path, line, col, where, message, clip(shown, 160))

    def at(self, tree: Any, loc: tuple[Any, ...], message: str) -> Problem:
        """A problem at the YAML position of `loc` in `tree` (this source's tree)."""
        where = ".".join(clip(str(p), 40) if p != "" else "''" for p in loc)
        return self.problem(*position(tree, loc), where, message)


class ScenarioInvalid(ScenarioError):
    """One or more problems; str() lists them all."""

    def __init__(self, problems: list[Problem]) -> None:
        problems = sorted(problems, key=lambda p: (str(p.path), p.line, p.col))
        if len(problems) > MAX_PROBLEMS:
            last = problems[MAX_PROBLEMS - 1]
            more = (
                f"{len(problems) - MAX_PROBLEMS} more problem(s) not shown ({MAX_PROBLEMS} are "
                "shown per file); fix these and check again"
            )
            problems = [*problems[:MAX_PROBLEMS], Problem(last.path, last.line, last.col, "", more)]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in self.problems))


def position(node: Any, loc: tuple[Any, ...]) -> tuple[int, int]:
    """(line, col), 1-based, of the deepest node of `loc` present in the YAML tree."""
    line, col = (
        getattr(getattr(node, "lc", None), "line", 0),
        getattr(getattr(node, "lc", None), "col", 0),
    )
    for part in loc:
        try:
            if isinstance(node, CommentedMap) and part in node:
                line, col = node.lc.key(part)
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line, col = node.lc.item(part)
                node = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError):  # a value put in after reading has no position
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


_BOUNDS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "multiple_of"}


def _short(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= QUOTE_CHARS


def _has(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _user_loc(tree: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The error's location as the user wrote it: tags pydantic adds for union members
    (`SynthSpec`, `function-after[...]`) are dropped unless the file really has that key."""
    out: list[Any] = []
    node = tree
    for part in loc:
        if _has(node, part):
            node = node[part]
        elif isinstance(part, str) and part != "[key]" and (part[:1].isupper() or "[" in part):
            continue
        else:
            node = None
        out.append(part)
    return tuple(out)


def from_validation(
    exc: ValidationError,
    model: type[BaseModel],
    source: Source,
    tree: Any,
) -> list[Problem]:
    """One Problem per pydantic error, each at its YAML position with a fix."""
    problems = []
    for err in exc.errors():
        loc = _user_loc(tree, tuple(err["loc"]))
        kind = err["type"]
        if kind == "extra_forbidden":
            word = clip(str(loc[-1]) if loc else "", 40)
            message = f"unknown key; {did_you_mean(word, allowed_keys(model, loc[:-1]))}"
        elif kind == "missing":
            message = f"required key missing; add `{loc[-1] if loc else '?'}:`"
        elif kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            choices = [c.strip("'") for c in re.split(r", | or ", expected) if c]
            got = err.get("input")
            message = f"{quote(got)} is not allowed; use one of {', '.join(choices)}"
            close = difflib.get_close_matches(got, choices, 1) if _short(got) else []
            if close:
                message += f" (did you mean {close[0]!r}?)"
        else:
            message = clip(err["msg"].removeprefix("Value error, "), MESSAGE_CHARS)
            if kind in _BOUNDS:
                message += f" (got {quote(err.get('input'))})"
        problems.append(source.at(tree, loc, message))
    return problems


def internal_problem(path: Path, exc: BaseException) -> Problem:
    """A bug of ours met while checking `path`: still one located report, never a traceback."""
    what = f"{type(exc).__name__}: {clip(str(exc))}"
    return Problem(
        Path(path), 1, 1, "", f"internal error while checking this file ({what}); report it"
    )
