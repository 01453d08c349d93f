"""The checks of a checkpoint file that need no torch: it exists, and its sha256 matches the pin.

Provisioning runs them first; a strategy that runs no model (the oracle) runs only these, so
its scenarios never import torch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.digest import file_digest
from harness.reference.operator_config import Backbone
from harness.run.stage import RunContext, StageStop


@dataclass(frozen=True)
class Check:
    check: str  # exists | sha256 | weights_only | layout | strict_load | finite | forward
    ok: bool
    detail: str
    figures: dict[str, Any] | None = None  # what it measured (int8 parity), for the record


def record_check(ctx: RunContext, backbone: str, check: Check) -> None:
    """One provisioning check into the record; a failed one stops the run there."""
    ctx.emit(
        "provisioning",
        "check",
        backbone=backbone,
        check=check.check,
        ok=check.ok,
        detail=check.detail,
        **({"figures": check.figures} if check.figures else {}),
    )
    if not check.ok:
        raise StageStop(check.detail)


def file_checks(backbone: Backbone, path: Path) -> Iterator[Check]:
    """`exists`, then `sha256` (against the pin, when there is one); stops at the first failure.

    A passed sha256 check's detail starts with the digest."""
    if path.is_dir():
        yield Check("exists", False, f"{path} is a directory; point weights_path at the .pt in it")
        return
    if not path.is_file():
        yield Check("exists", False, f"{path} does not exist; make it or fix weights_path")
        return
    yield Check("exists", True, str(path))
    try:
        digest = file_digest(path)
    except OSError as exc:
        yield Check(
            "sha256", False, f"{path} is unreadable ({exc.strerror}); make it readable by this user"
        )
        return
    if backbone.sha256 is not None and digest != backbone.sha256:
        yield Check(
            "sha256",
            False,
            f"{path} has sha256 {digest}, the config pins {backbone.sha256}; "
            "provision the pinned file or update the pin",
        )
        return
    yield Check("sha256", True, digest if backbone.sha256 else f"{digest} (not pinned)")
