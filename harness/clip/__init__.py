"""Clips: the bundle format, its readers and `load_clip`, the one entry point the runs use."""

from harness.clip.corpus import TileCorpus
from harness.clip.load import load_clip
from harness.clip.model import Camera, Clip, Frames, ImuStream, Origin, Telemetry, Truth
from harness.clip.spec import ClipRef, Segment

__all__ = [
    "Camera",
    "Clip",
    "ClipRef",
    "Frames",
    "ImuStream",
    "Origin",
    "Segment",
    "Telemetry",
    "TileCorpus",
    "Truth",
    "load_clip",
]
