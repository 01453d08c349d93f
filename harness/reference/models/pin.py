"""`harness provision pin`: write each checkpoint's sha256 into the operator config.

The config is edited in place, round-trip (its comments and layout stay), and replaced
atomically: a killed pin leaves the old file, never half a file.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

from harness.errors import ProvisioningError
from harness.reference.provisioning import sha256_file
from harness.scenario.load import project_root, read_yaml


@dataclass(frozen=True)
class Pinned:
    name: str
    weights: Path
    sha256: str
    previous: str | None


def _weights(entry: dict, config: Path) -> str:
    path = entry.get("weights_path") or entry.get("onnx_path")
    if not path:
        raise ProvisioningError(
            f"{config}: backbone {entry.get('name', '?')!r} has no weights_path; "
            "add one before pinning"
        )
    return str(path)


def pin(config: Path, names: list[str] | None = None) -> list[Pinned]:
    """Pin the backbones called `names` (default: all) to their checkpoint's sha256."""
    if not config.is_file():
        raise ProvisioningError(f"{config}: no operator config here; pass --config PATH")
    tree = read_yaml(config)
    backbones = ((tree or {}).get("c10_provisioning") or {}).get("backbones") or []
    if not backbones:
        raise ProvisioningError(f"{config}: c10_provisioning.backbones is empty; nothing to pin")
    known = [str(b.get("name", "?")) for b in backbones]
    unknown = sorted(set(names or ()) - set(known))
    if unknown:
        raise ProvisioningError(
            f"{config}: no backbone named {', '.join(unknown)}; the config has {', '.join(known)}"
        )
    root = project_root(config.parent)
    done = []
    for entry in backbones:
        if names and str(entry.get("name")) not in names:
            continue
        weights = Path(_weights(entry, config))
        path = weights if weights.is_absolute() else root / weights
        if not path.is_file():
            raise ProvisioningError(
                f"{config}: backbone {entry.get('name')!r}: {path} does not exist; make or "
                "provision the checkpoint first (`harness provision scaffold|import|train`)"
            )
        digest = sha256_file(path)
        done.append(Pinned(str(entry.get("name")), weights, digest, entry.get("sha256")))
        entry["sha256"] = digest
    _write_atomic(config, tree)
    return done


def _write_atomic(path: Path, tree: object) -> None:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    buf = io.StringIO()
    yaml.dump(tree, buf)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(buf.getvalue())
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
