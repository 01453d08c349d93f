"""`load_clip`: a scenario's clip reference and segment to a checked, cut Clip."""

from __future__ import annotations

from pathlib import Path

from harness.clip.bundle import read_bundle
from harness.clip.model import Clip
from harness.clip.spec import ClipRef, Segment


def load_clip(ref: ClipRef, segment: Segment, cache_dir: Path, progress: bool = False) -> Clip:
    """Make (or find in the cache) the synth clip, or read the bundle; then cut the segment."""
    if ref.synth is not None:
        from harness.synth.make import make_synth

        path = make_synth(ref.synth, Path(cache_dir), progress=progress)
        clip = read_bundle(path, cache_dir, verify=False)  # made here, under its own hash
    else:
        clip = read_bundle(Path(ref.bundle), Path(cache_dir))
    return clip.segment(segment.start_s, segment.duration_s)
