"""Values pydantic would coerce but a scenario must not: a bool, a string or inf/NaN for a number.

pydantic reads `true` as 1 and `"25"` as 25.0 for numeric fields; in a file people review,
`tier: true` or `sigma_vpr_m: .inf` is a mistake, not a number. This walks the YAML tree
along the model's field types (whatever else is wrong with the file) and reports each.
"""

from __future__ import annotations

import math
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from harness.scenario.problems import Problem, Source, quote

_UNIONS = (Union, UnionType)


def _members(tp: Any) -> list[Any]:
    """The types a value of `tp` may be: Annotated and unions (Optional too) unwrapped."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _members(get_args(tp)[0])
    if origin in _UNIONS:
        return [m for arg in get_args(tp) for m in _members(arg)]
    return [tp]


def _number_only(members: list[Any]) -> bool:
    """True when the type takes numbers and nothing a bool or a string could rightly be."""
    numeric = False
    for m in members:
        if m in (int, float):
            numeric = True
        elif get_origin(m) is Literal:
            values = get_args(m)
            if any(isinstance(v, bool | str) for v in values):
                return False
            numeric = numeric or any(isinstance(v, int | float) for v in values)
        elif m is not type(None):
            return False
    return numeric


def _scalar(value: Any, members: list[Any]) -> str | None:
    if not _number_only(members):
        return None
    if isinstance(value, bool):
        return f"{str(value).lower()} is a boolean, not a number; write the number"
    if isinstance(value, str):
        return f"{quote(value)} is a string, not a number; write it without quotes"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number; write a finite value"
    return None


def _walk(value: Any, tp: Any, loc: tuple[Any, ...], out: list[tuple[tuple[Any, ...], str]]):
    members = _members(tp)
    if isinstance(value, dict):
        for m in members:
            if isinstance(m, type) and issubclass(m, BaseModel):
                for key, item in value.items():
                    field = m.model_fields.get(key) if isinstance(key, str) else None
                    if field is not None:
                        _walk(item, field.annotation, (*loc, key), out)
                return
            if get_origin(m) is dict:
                item_type = get_args(m)[1] if get_args(m) else Any
                for key, item in value.items():
                    _walk(item, item_type, (*loc, key), out)
                return
        return
    if isinstance(value, list):
        for m in members:
            args = get_args(m)
            if get_origin(m) is list:
                for i, item in enumerate(value):
                    _walk(item, args[0] if args else Any, (*loc, i), out)
                return
            if get_origin(m) is tuple:
                repeat = len(args) == 2 and args[1] is Ellipsis
                for i, item in enumerate(value):
                    if repeat or i < len(args):
                        _walk(item, args[0] if repeat else args[i], (*loc, i), out)
                return
        return
    if (why := _scalar(value, members)) is not None:
        out.append((loc, why))


def coercions(tree: Any, model: type[BaseModel], source: Source) -> list[Problem]:
    """Each value in `tree` that `model` would silently coerce to a number, located."""
    found: list[tuple[tuple[Any, ...], str]] = []
    _walk(tree, model, (), found)
    return [source.at(tree, loc, why) for loc, why in found]
