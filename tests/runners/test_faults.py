"""How a container's ending becomes infra-error (pure: facts in, message out)."""

from __future__ import annotations

import pytest

from harness.runners.faults import ContainerExit, classify


@pytest.mark.parametrize(
    ("end", "expected"),
    [
        (ContainerExit(0, has_end=True), None),
        (ContainerExit(1, has_end=True), None),  # the verdict line alone decides
        (ContainerExit(None, engine_error="ConnectionError: gone"), "engine lost"),
        (ContainerExit(137, timed_out=True, timeout_s=3.0), "timeout: the container ran past 3 s"),
        (ContainerExit(137, oom_killed=True, mem_limit="96 MiB"), "OOM-killed (limit 96 MiB)"),
        (ContainerExit(137, log_tail=("MemoryError",)), "out of memory: killed (exit 137)"),
        (ContainerExit(137, mem_limit="1 MiB"), "SIGKILL (exit 137); likely memory (limit 1 MiB)"),
        (ContainerExit(0), "exited 0 without ending its record"),
        (ContainerExit(2), "exited 2 without ending its record"),
        (ContainerExit(1, log_tail=("CUDA out of memory",)), "out of memory: exit 1"),
    ],
)
def test_classify(end: ContainerExit, expected: str | None) -> None:
    message = classify(end)
    if expected is None:
        assert message is None
    else:
        assert message is not None and expected in message


def test_oom_flag_wins_over_a_verdict_line() -> None:
    # Killed after writing a verdict is still a broken run: the machinery says so.
    assert "OOM" in classify(ContainerExit(137, oom_killed=True, has_end=True))
