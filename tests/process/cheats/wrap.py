"""What the cheats share: run the honest stack given on the command line (stdin, stderr and
the input folder its own), pass each of its stdout lines through a rewrite, and exit as it
did. A cheat is the honest example behind a filter, as a wrapper script would be in practice."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterable

Rewrite = Callable[[dict], Iterable[dict]]


def wrap(rewrite: Rewrite) -> None:
    """Run `sys.argv[1:]`, writing `rewrite(line)` for each of its JSON stdout lines."""
    child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)
    for raw in child.stdout:
        for out in rewrite(json.loads(raw)):
            sys.stdout.write(json.dumps(out) + "\n")
            sys.stdout.flush()
    sys.exit(child.wait())
