"""`harness provision pin`: write each checkpoint's sha256 into the operator config.

Only the `sha256:` lines change (found through the YAML parser's line marks, edited as
text, so every comment and the layout stay as they were), and the file is replaced
atomically: a killed pin leaves the old file, never half a file.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.digest import file_digest
from harness.errors import ProvisioningError
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
    lines = config.read_text(encoding="utf-8").splitlines(keepends=True)
    inserts: list[tuple[int, str]] = []
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
        digest = file_digest(path)
        done.append(Pinned(str(entry.get("name")), weights, digest, entry.get("sha256")))
        if entry.fa.flow_style():
            raise ProvisioningError(
                f"{config}: backbone {entry.get('name')!r} is written inline ({{...}}); write it "
                f"as a block mapping or set `sha256: {digest}` in it by hand"
            )
        if "sha256" in entry:
            row = entry.lc.key("sha256")[0]
            lines[row] = _SHA_LINE.sub(rf"\g<1>{digest}\g<3>", lines[row], count=1)
        else:  # no sha256 key yet: add one under the entry's first key, at its indent
            row, col = entry.lc.key(next(iter(entry)))
            inserts.append((row + 1, " " * col + f"sha256: {digest}\n"))
    for row, text in sorted(inserts, reverse=True):
        lines.insert(row, text)
    _write_atomic(config, "".join(lines))
    return done


# `sha256: <value>  # comment` (also after a list dash): the value is group 2.
_SHA_LINE = re.compile(r"^(\s*(?:-\s+)?sha256:[ \t]*)([^#\s]*)([ \t]*(?:#.*)?\r?\n?)$")


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
