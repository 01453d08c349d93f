"""Read a YAML file within named bounds (size, characters, nesting, alias expansion), located.

A scenario or operator config is read once: the bytes are checked, the event stream is walked
without building anything (depth, aliases, loops), and only then is the tree composed. Every
refusal is a Problem at the file's line and column (and byte, for unreadable bytes), so one
hostile or damaged file costs one report and never the session.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, ReusedAnchorWarning, YAMLError
from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, NodeEvent

from harness.scenario.problems import Problem, ScenarioInvalid, Source, clip

MAX_BYTES = 256 * 1024  # a scenario is a page of keys; a config a few pages
MAX_DEPTH = 32  # mappings and lists inside each other
MAX_NODES = 50_000  # values in the document with every alias expanded
# What YAML 1.2 allows in a stream (section 5.1): tab, line breaks and printable characters.
_NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MAX_CHAR_REPORTS = 5


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def read_text(path: Path) -> tuple[str, Source]:
    """The file's text, or ScenarioInvalid naming the file and the byte that stops it."""
    path = Path(path)
    empty = Source(path, ())
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        msg = f"cannot be read ({clip(why)}); check that the path names a readable file"
        raise ScenarioInvalid([empty.problem(1, 1, "", msg)]) from None
    if len(data) > MAX_BYTES:
        msg = (
            f"cannot be read: the file is over {MAX_BYTES} bytes, the bound for a scenario or "
            "operator config; remove the bulk (large inputs belong in clip bundles)"
        )
        raise ScenarioInvalid([empty.problem(1, 1, "", msg)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8")
        source = Source(path, tuple(good.splitlines()))
        line, col = _line_col(good, len(good))
        msg = (
            f"cannot be read: byte {exc.start} (0x{data[exc.start]:02x}) is not UTF-8; "
            "save the file as UTF-8"
        )
        raise ScenarioInvalid([source.problem(line, col, "", msg)]) from None
    source = Source(path, tuple(text.splitlines()))
    bad = []
    for match in _NOT_PRINTABLE.finditer(text):
        if len(bad) == _MAX_CHAR_REPORTS:
            break
        char, line_col = match.group(), _line_col(text, match.start())
        offset = len(text[: match.start()].encode("utf-8"))
        msg = (
            f"control character U+{ord(char):04X} at byte {offset} is not allowed in YAML; "
            'delete it (write it as an escape, e.g. "\\x07", inside a double-quoted string)'
        )
        bad.append(source.problem(*line_col, "", msg))
    if bad:
        raise ScenarioInvalid(bad)
    return text, source


def _check_events(text: str, source: Source) -> None:
    """Walk the event stream (nothing is built): bound depth and alias expansion, find loops."""
    sizes: dict[str, int] = {}  # anchor -> values it stands for, expanded
    open_nodes: list[tuple[str | None, int]] = []  # (anchor, values so far) per open collection
    total = 0
    for event in YAML(typ="safe", pure=True).parse(text):  # the same grammar, no comments
        if not isinstance(event, NodeEvent | CollectionEndEvent):
            continue
        mark = event.start_mark
        here = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        if isinstance(event, CollectionEndEvent):
            anchor, size = open_nodes.pop()
            if anchor is not None:
                sizes[anchor] = size
            if open_nodes:
                open_nodes[-1] = (open_nodes[-1][0], open_nodes[-1][1] + size)
            continue
        if isinstance(event, AliasEvent):
            if any(anchor == event.anchor for anchor, _ in open_nodes):
                msg = (
                    f"alias *{clip(event.anchor, 40)} refers to a node that contains it (a loop, "
                    "e.g. a merge key `<<:` into itself); point it at another anchor"
                )
                raise ScenarioInvalid([source.problem(*here, "", msg)])
            size = sizes.get(event.anchor, 1)
        elif isinstance(event, CollectionStartEvent):
            if len(open_nodes) >= MAX_DEPTH:
                msg = (
                    f"nesting deeper than {MAX_DEPTH} levels, the bound for a scenario; "
                    "flatten the structure"
                )
                raise ScenarioInvalid([source.problem(*here, "", msg)])
            open_nodes.append((event.anchor, 1))
            continue
        else:  # a scalar
            size = 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        total += size
        if total > MAX_NODES:
            msg = (
                f"aliases expand the document to more than {MAX_NODES} values, the bound for "
                "a scenario; write the values out or use fewer aliases"
            )
            raise ScenarioInvalid([source.problem(*here, "", msg)])
        if open_nodes:
            open_nodes[-1] = (open_nodes[-1][0], open_nodes[-1][1] + size)


def _syntax_problem(exc: YAMLError, source: Source) -> Problem:
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = clip(str(exc.problem or exc.context))
        return source.problem(
            line, col, "", f"YAML syntax error: {what}; fix the indentation or quoting"
        )
    return source.problem(1, 1, "", f"YAML error: {clip(str(exc))}; fix the file")


def read_tree(path: Path) -> tuple[Any, Source]:
    """The YAML tree (with positions) and the source it came from; ScenarioInvalid if refused."""
    text, source = read_text(path)
    try:
        _check_events(text, source)
        with warnings.catch_warnings():  # a reused anchor is valid YAML: the later one counts
            warnings.simplefilter("ignore", ReusedAnchorWarning)
            return YAML(typ="rt").load(text), source
    except ScenarioInvalid:
        raise
    except YAMLError as exc:
        raise ScenarioInvalid([_syntax_problem(exc, source)]) from None
    except RecursionError:  # the depth bound should make this unreachable; never a traceback
        msg = f"nesting too deep to read (bound {MAX_DEPTH} levels); flatten the structure"
        raise ScenarioInvalid([source.problem(1, 1, "", msg)]) from None
    except Exception as exc:  # the YAML library failed to build what it parsed: still located
        msg = f"YAML could not be built ({type(exc).__name__}: {clip(str(exc))}); simplify the file"
        raise ScenarioInvalid([source.problem(1, 1, "", msg)]) from None
