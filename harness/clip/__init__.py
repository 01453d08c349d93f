"""Clips: the bundle format, its readers and `load_clip`, the one entry point the runs use.

Names are imported on first use, so `harness.clip.geo` (the gates' geometry) does not pull
in the readers' dependencies (video decoding, scipy).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.clip.corpus import TileCorpus
    from harness.clip.load import load_clip
    from harness.clip.model import Camera, Clip, Frames, ImuStream, Origin, Truth
    from harness.clip.spec import ClipRef, Segment

_WHERE = {
    "Camera": "model",
    "Clip": "model",
    "ClipRef": "spec",
    "Frames": "model",
    "ImuStream": "model",
    "Origin": "model",
    "Segment": "spec",
    "TileCorpus": "corpus",
    "Truth": "model",
    "load_clip": "load",
}
__all__ = [
    "Camera",
    "Clip",
    "ClipRef",
    "Frames",
    "ImuStream",
    "Origin",
    "Segment",
    "TileCorpus",
    "Truth",
    "load_clip",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'harness.clip' has no attribute {name!r}")
    return getattr(importlib.import_module(f"harness.clip.{_WHERE[name]}"), name)
