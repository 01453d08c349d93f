"""What this host's CPU can do, from its flags (Linux /proc/cpuinfo)."""

from __future__ import annotations

import functools
from pathlib import Path


@functools.cache
def cpu_flags() -> frozenset[str] | None:
    """The first processor's flags; None where /proc/cpuinfo cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def int8_isa() -> str:
    """The widest int8 dot-product path the flags show: VNNI (AVX-512 or AVX) or AVX2."""
    flags = cpu_flags()
    if flags is None:
        return "unknown (no /proc/cpuinfo)"
    return next((f for f in ("avx512_vnni", "avx_vnni", "avx2") if f in flags), "no avx2")


def bf16_isa() -> str | None:
    """The native bf16 instructions the flags show (AMX or AVX-512 BF16); None: emulated."""
    flags = cpu_flags() or frozenset()
    return next((f for f in ("amx_bf16", "avx512_bf16") if f in flags), None)
