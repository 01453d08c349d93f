"""What our stack needs beyond the framework (the `reference` extra), checked before it runs.

`pip install .` installs the framework alone; a scenario or command of this stack on such an
install stops with the line that installs the rest, not with a traceback from deep inside a
run that imports torch.
"""

from __future__ import annotations

import importlib.util

from harness.errors import HarnessError

# Import names of pyproject's `reference` extra (a test keeps the two lists equal).
MODULES = (
    "torch",
    "filterpy",
    "numba",
    "h5py",
    "onnx",
    "onnxscript",
    "onnxruntime",
    "openvino",
    "nncf",
    "threadpoolctl",
)
INSTALL = "pip install '.[reference]' (from a checkout; 'harness[reference]' from an index)"


class ExtraMissing(HarnessError, ImportError):
    """The `reference` extra is not installed here; the message names the install line."""


def missing() -> list[str]:
    """The extra's modules this interpreter cannot import (looked up, not imported)."""
    return [name for name in MODULES if not _found(name)]


def _found(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # a finder that refuses the name: not installed either
        return False


def require() -> None:
    """Raise ExtraMissing naming the absent modules and the install line."""
    if absent := missing():
        raise ExtraMissing(
            f"the reference stack needs {', '.join(absent)}, not installed here: {INSTALL}"
        )
