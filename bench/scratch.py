"""One temporary folder per need, removed when the bench exits: clones, engines and run
folders are gigabytes, and a bench run must not leave them behind."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


def scratch(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, True)
    return path
