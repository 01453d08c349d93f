"""What an import of a published checkpoint made: its translation, the result, and the check
that provisioning will accept the file (shared by the importers of every source family)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from harness.errors import ProvisioningError
from harness.reference.model_checks import Check, verify
from harness.reference.models.source_checkpoint import SourceCheckpoint
from harness.reference.operator_config import Backbone


@dataclass(frozen=True)
class Translation:
    state: dict[str, torch.Tensor]  # ours: float32, in our key order
    encoder: str  # what the encoder came from
    bias: str  # BIAS_SOURCE or BIAS_ZEROS
    pca: str  # PCA_SOURCE or pca_random(seed)
    mapping: list[tuple[str, str, str]]  # (from, to, how), one row per key of ours
    choices: dict[str, str]  # assignment_bias / pca / encoder -> source | zeros | random | ...


@dataclass(frozen=True)
class ImportResult:
    out: Path
    sha256: str
    source: SourceCheckpoint
    architecture: tuple[int, int, int]  # width, clusters, descriptor_dim
    translation: Translation  # with its state dropped: the tensors live in `out`


def check_imported(out: Path, width: int, clusters: int, descriptor_dim: int) -> None:
    """Provisioning's own checks on an imported file: a translation that gives a file
    provisioning refuses is our bug, not the user's."""
    backbone = Backbone(
        name="import",
        weights_path=out,
        width=width,
        clusters=clusters,
        descriptor_dim=descriptor_dim,
    )
    failed = [c for c in verify(backbone, out) if isinstance(c, Check) and not c.ok]
    if failed:
        raise ProvisioningError(f"{out}: the imported checkpoint fails {failed[0].detail}")
