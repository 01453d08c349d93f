"""Reads ahead of the clock: a batch stack that wants the whole clip's frames before it starts
(to smooth forward and backward); it runs only when every frame is readable before ready."""

import json
import os
import sys
from pathlib import Path

from wrap import wrap

folder = Path(os.environ["HARNESS_STACK_INPUT"])
doc = json.loads((folder / "input.json").read_text())
frames = doc["streams"]["frames"]["samples"]
if (folder / "frames_rgb.npy").exists():  # stack input v1 held every frame decoded
    readable = frames
else:
    readable = len(list((folder / "frames").glob("*.npy"))) if (folder / "frames").is_dir() else 0
if readable < frames:
    print(
        f"read-ahead: {readable} of {frames} frames readable before ready; a batch stack "
        "cannot run",
        file=sys.stderr,
    )
    sys.exit(3)
wrap(lambda line: [line])
