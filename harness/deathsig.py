"""A process that dies with its parent (Linux PR_SET_PDEATHSIG): no run outlives its runner."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> Callable[[], None] | None:
    """A preexec hook that makes the child die with this process (Linux), or None elsewhere.

    A run leads its own process group (killed whole on timeout), so a killed xdist worker
    would otherwise leave it running and writing a record nothing reads. Linux ties the signal
    to the starting thread: start the child from a thread that outlives it (any caller that
    waits for it does)."""
    if not sys.platform.startswith("linux"):
        return None
    parent = os.getpid()
    return lambda: die_with(parent)


def die_with(parent: int) -> None:
    """SIGKILL this process when its parent dies (Linux); exit now if `parent` is gone."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the line above: follow it now
        os._exit(1)
