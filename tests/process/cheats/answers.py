"""What the answer-seeking cheats share: a stack that is poor on its own (its positions 80 m
off) unless it finds the answers within reach, then answers with them. `find` looks where a
stack that runs as the harness's user would: beside its input, in its working folder and
above, and in the folder named on its command line."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from wrap import wrap

OFF_M = 80.0  # how far off the cheat's own positions are


def places() -> Iterator[Path]:
    """Every folder a cheat looks in: the given one, and the ancestors of its input and cwd."""
    seen = set()
    for start in (Path(sys.argv[1]), Path(os.environ.get("HARNESS_STACK_INPUT", "/")), Path.cwd()):
        for folder in (start, *start.parents):
            if folder not in seen and folder.is_dir():
                seen.add(folder)
                yield folder


def clip_hash() -> str:
    folder = Path(os.environ.get("HARNESS_STACK_INPUT", "/input"))
    return json.loads((folder / "input.json").read_text())["clip_hash"]


def answer_with(find: Callable[[str], tuple[np.ndarray, np.ndarray] | None]) -> None:
    """Run the honest stack (argv after the look-in folder) with positions from `find`'s
    (t_s, north/east) answers for this clip when it found them, else 80 m off its own."""
    found = find(clip_hash())
    print(f"cheat: answers {'found' if found else 'not found'}", file=sys.stderr, flush=True)
    del sys.argv[1]  # the look-in folder: the rest is the honest stack's argv

    def position(t_s: float, own: list) -> list:
        if found is None:
            return [own[0] + OFF_M, own[1]]
        t, ne = found
        return ne[min(np.searchsorted(t, t_s), len(t) - 1)].tolist()

    def rewrite(line: dict) -> list[dict]:
        if line["type"] == "fix":
            line["z_ne_m"] = position(line["t_s"], line["z_ne_m"])
        if line["type"] == "state":
            line["p_ned_m"][:2] = position(line["t_s"], line["p_ned_m"])
        return [line]

    wrap(rewrite)
