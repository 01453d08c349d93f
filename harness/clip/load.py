"""`load_clip`: a scenario's clip reference and segment to a checked, cut Clip."""

from __future__ import annotations

from pathlib import Path

from harness.clip.bundle import read_bundle
from harness.clip.model import Clip
from harness.clip.spec import ClipRef, Segment


def load_clip(
    ref: ClipRef,
    segment: Segment,
    cache_dir: Path,
    progress: bool = False,
    root: Path | None = None,
) -> Clip:
    """Make (or find in the cache) the synth clip, import the recording, or read the bundle;
    then cut the segment. Relative paths resolve against `root` (default: the working folder)."""
    root = Path(root) if root is not None else Path.cwd()
    if ref.synth is not None:
        from harness.synth.make import make_synth

        path = make_synth(ref.synth, Path(cache_dir), progress=progress)
        clip = read_bundle(path, cache_dir, verify=False)  # made here, under its own hash
    elif ref.recording is not None:
        from harness.clip.recording import import_recording

        path = import_recording(ref.recording, root, Path(cache_dir))
        clip = read_bundle(path, cache_dir, verify=False)  # imported here, under its digest
    else:
        bundle = ref.bundle if ref.bundle.is_absolute() else root / ref.bundle
        clip = read_bundle(bundle, Path(cache_dir))
    return clip.segment(segment.start_s, segment.duration_s)
