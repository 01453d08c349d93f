"""Reading a pytorch-NetVlad (Nanne) training checkpoint safely, as a flat state_dict.

Those files are a dict with `state_dict` beside `epoch`, `best_score`, `recalls` and
`optimizer`; the scores are numpy scalars, which `torch.load(weights_only=True)` refuses unless
their types are allowed. We allow exactly the numpy pieces that build plain numbers and arrays
of numbers, nothing that can run code, and never fall back to a full pickle load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy._core import multiarray

from harness.digest import file_digest
from harness.errors import ProvisioningError
from harness.reference.model_checks import load_weights

# numpy >= 2 pickles these from `numpy._core`; files written with numpy 1.x name `numpy.core`.
_NUMPY_FUNCTIONS = ("scalar", "_reconstruct")
_NUMPY_MODULES = ("numpy._core.multiarray", "numpy.core.multiarray")
# bool, integer, float and complex dtypes: the types a score or a recall table is made of.
_NUMERIC_DTYPE_CODES = "?bhilqpBHILQPefdgFDG"


def numpy_allowlist() -> list:
    """safe_globals entries for numpy scalars and numeric arrays (no object dtype, no code)."""
    allow: list = [np.ndarray, np.dtype]
    allow += sorted({type(np.dtype(c)) for c in _NUMERIC_DTYPE_CODES}, key=lambda t: t.__name__)
    for name in _NUMPY_FUNCTIONS:
        allow += [(getattr(multiarray, name), f"{module}.{name}") for module in _NUMPY_MODULES]
    return allow


@dataclass(frozen=True)
class SourceCheckpoint:
    """A source file's tensors under canonical keys (DataParallel's `module.` parts removed)."""

    path: Path
    sha256: str
    state: dict[str, torch.Tensor]
    original_keys: dict[str, str]  # canonical key -> key as stored in the file
    extras: dict[str, object]  # the file's other entries, summarised as JSON-safe values


_NOT_A_NUMBER = object()


def _scalar(value: object) -> object:
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()  # before the next test: np.float64 is also a float
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return _NOT_A_NUMBER


def _summary(value: object) -> object:
    """A JSON-safe digest of a training extra: numbers (and tables of them, like `recalls`) as
    they are, anything else (the optimizer state, arrays) by its type."""
    scalar = _scalar(value)
    if scalar is not _NOT_A_NUMBER:
        return scalar
    if isinstance(value, dict) and 0 < len(value) <= 64:
        table = {str(k): _scalar(v) for k, v in value.items()}
        if _NOT_A_NUMBER not in table.values():
            return table
    if isinstance(value, torch.Tensor | np.ndarray):
        return f"{type(value).__name__} {list(value.shape)} (not used)"
    return f"{type(value).__name__} (not used)"


def read_source(path: Path) -> SourceCheckpoint:
    """The file's state_dict (a `state_dict` entry, or the file itself if it is one)."""
    top = load_weights(path, allow=numpy_allowlist())
    if isinstance(top.get("state_dict"), dict):
        state, extras = top["state_dict"], {k: v for k, v in top.items() if k != "state_dict"}
    elif all(isinstance(v, torch.Tensor) for v in top.values()):
        state, extras = top, {}
    else:
        odd = sorted(str(k) for k, v in top.items() if not isinstance(v, torch.Tensor))[:5]
        raise ProvisioningError(
            f"{path}: neither a training checkpoint with a `state_dict` entry nor a plain "
            f"state_dict (non-tensor entries: {', '.join(odd)}); give the file pytorch-NetVlad "
            "wrote (checkpoint.pth.tar / model_best.pth.tar)"
        )
    canonical: dict[str, torch.Tensor] = {}
    original: dict[str, str] = {}
    for key, value in state.items():
        name = ".".join(part for part in str(key).split(".") if part != "module")
        if not isinstance(value, torch.Tensor):
            raise ProvisioningError(
                f"{path}: state_dict entry {key} is a {type(value).__name__}, not a tensor; "
                "give a checkpoint whose state_dict holds only tensors"
            )
        if name in canonical:
            raise ProvisioningError(
                f"{path}: {original[name]} and {key} both map to {name} once DataParallel's "
                "`module.` is removed; keep one copy of the model in the file"
            )
        canonical[name], original[name] = value, str(key)
    return SourceCheckpoint(
        path=path,
        sha256=file_digest(path),
        state=canonical,
        original_keys=original,
        extras={str(k): _summary(v) for k, v in extras.items()},
    )
