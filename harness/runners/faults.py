"""How a container run ended, decided from facts read off the engine (pure, no docker import).

Exit 137 is SIGKILL, not proof of an out-of-memory kill: Docker's `OOMKilled` flag is the
strong signal, a MemoryError in the log a good one, and a bare 137 under a memory limit is
reported as "likely memory". Everything here becomes `RunResult.infra_error`.
"""

from __future__ import annotations

from dataclasses import dataclass

MEMORY_HINTS = ("MemoryError", "Cannot allocate memory", "CUDA out of memory", "std::bad_alloc")


@dataclass(frozen=True)
class ContainerExit:
    """What the engine said about a finished (or abandoned) container."""

    exit_code: int | None
    oom_killed: bool = False
    timed_out: bool = False
    timeout_s: float | None = None
    engine_error: str | None = None
    has_end: bool = False
    mem_limit: str | None = None
    log_tail: tuple[str, ...] = ()


def classify(end: ContainerExit) -> str | None:
    """The infra-error message for this ending, or None when the run's verdict stands."""
    if end.engine_error:
        return f"engine lost during the run: {end.engine_error}"
    if end.timed_out:
        return f"timeout: the container ran past {end.timeout_s:g} s and was killed"
    limit = f" (limit {end.mem_limit})" if end.mem_limit else ""
    if end.oom_killed:
        return f"out of memory: the container was OOM-killed{limit}"
    if end.exit_code == 137:
        if any(h in line for line in end.log_tail for h in MEMORY_HINTS):
            return f"out of memory: killed (exit 137) after a memory error{limit}"
        return f"killed by SIGKILL (exit 137); likely memory{limit}"
    if not end.has_end:
        if end.exit_code is not None and end.exit_code != 0:
            if any(h in line for line in end.log_tail for h in MEMORY_HINTS):
                return f"out of memory: exit {end.exit_code} after a memory error{limit}"
            return f"the run exited {end.exit_code} without ending its record"
        return "the run exited 0 without ending its record"
    return None
