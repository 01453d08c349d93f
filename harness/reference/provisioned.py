"""A provisioned backbone: what the reference stack's provisioning made of one config entry,
handed from provisioning to the VPR stage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.reference.operator_config import Backbone


@dataclass
class Engine:
    """A provisioned backbone: what `compile_engines_for_corpus` made of one config entry."""

    backbone: Backbone
    weights_path: Path
    sha256: str
    model: Any = None  # set by deserialize_engine
    normalisation: dict | None = None  # the checkpoint's recorded input normalisation, if any
