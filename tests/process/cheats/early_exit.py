"""Exits early behind a launcher: passes the honest stack's lines through for the first 30
frames, then exits 0, as a launcher that loses its stack's crash would."""

import sys

from wrap import wrap


def rewrite(line: dict) -> list[dict]:
    if line.get("frame", 0) >= 30:
        sys.stdout.flush()
        sys.exit(0)
    return [line]


wrap(rewrite)
