"""The operator config as the onboard stack reads it (the c2_vpr and c10_provisioning blocks),
and how a scenario names it: `config:` plus dotted `overrides:`, resolved at load time with
every problem located in the scenario or in the config file.

Other top-level blocks belong to other onboard components and pass through untouched.
"""

from __future__ import annotations

import copy
import functools
import re
import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.scenario.problems import Problem, Source, did_you_mean, from_validation, quote
from harness.scenario.strict import coercions
from harness.scenario.yamlsafe import read_tree

# The full NetVLAD-VGG16 of the upstream config: VGG width 64, 64 clusters, 4096-d output.
FULL_WIDTH, FULL_CLUSTERS, FULL_DESCRIPTOR_DIM = 64, 64, 4096

Runtime = Literal[
    "pytorch-fp16", "pytorch-fp32", "onnxruntime", "openvino-fp32", "openvino-int8", "tensorrt"
]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Backbone(StrictModel):
    """One provisioned network. Architecture fields default to the full NetVLAD-VGG16."""

    name: str
    weights_path: Path
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    runtime: Runtime = "pytorch-fp16"
    input_size: tuple[int, int] = (480, 480)
    width: int = Field(FULL_WIDTH, gt=0)
    clusters: int = Field(FULL_CLUSTERS, gt=0)
    descriptor_dim: int = Field(FULL_DESCRIPTOR_DIM, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _legacy_onnx_path(cls, data: Any) -> Any:
        # The onboard stack names the path field `onnx_path` even for a .pt state_dict.
        if isinstance(data, dict) and "onnx_path" in data:
            data = dict(data)
            legacy = data.pop("onnx_path")
            if "weights_path" in data:
                raise ValueError("give `weights_path` only; `onnx_path` is its deprecated alias")
            data["weights_path"] = legacy
            warnings.warn(
                f"backbone {data.get('name', '?')!r}: `onnx_path` is a deprecated alias; "
                "rename the key to `weights_path`",
                FutureWarning,
                stacklevel=2,
            )
        return data


class Provisioning(StrictModel):
    backbones: list[Backbone] = []
    descriptor_cache: Path = Path(".cache/descriptors")


class C2Vpr(StrictModel):
    strategy: Literal["netvlad"] = "netvlad"
    backbone: str | None = None
    top_k: int = Field(5, gt=0)


class OperatorConfig(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    c2_vpr: C2Vpr = C2Vpr()
    c10_provisioning: Provisioning

    def backbone(self) -> Backbone | None:
        """The backbone c2_vpr uses: the named one, else the first."""
        chosen = self.c2_vpr.backbone
        for b in self.c10_provisioning.backbones:
            if chosen is None or b.name == chosen:
                return b
        return None

    @model_validator(mode="after")
    def _backbone_exists(self) -> OperatorConfig:
        names = [b.name for b in self.c10_provisioning.backbones]
        if self.c2_vpr.backbone is not None and names and self.c2_vpr.backbone not in names:
            raise ValueError(
                f"c2_vpr.backbone {self.c2_vpr.backbone!r} is not among "
                f"c10_provisioning.backbones {names}"
            )
        return self


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


def _config_path(tree: Any, root: Path, source: Source) -> Path | Problem:
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


def resolve(
    tree: Any, source: Source, root: Path
) -> tuple[OperatorConfig | None, Path | None, list[Problem]]:
    """The scenario's operator config with its `overrides:` applied, the config's path, and
    every problem, each at the scenario's key or the config file's line it comes from."""
    if not isinstance(tree.get("config"), str):
        return None, None, []  # the scenario model reports a missing or mistyped `config:`
    config_path = _config_path(tree, root, source)
    if isinstance(config_path, Problem):
        return None, None, [config_path]
    config_tree, config_source = _read_config(config_path)
    resolved = copy.deepcopy(config_tree)
    problems: list[Problem] = []
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
    return config, config_path, problems
