"""A killed test session's stand-in board leaves its home (a copy of the runner image, about
2 GB): the next stand-in removes it, and never one whose session or engine still runs."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from harness.testing.standin_engine import OWNER, STALE_AFTER_S, remove_stale


def test_a_dead_sessions_home_goes_and_a_live_or_starting_one_stays(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    homes = {name: tmp_path / name for name in ("dead", "live", "engine-up", "starting")}
    for home in homes.values():
        (home / "data").mkdir(parents=True)
        (home / OWNER).write_text(f"{gone.pid}\n")
    (homes["live"] / OWNER).write_text(f"{os.getpid()}\n")
    (homes["engine-up"] / "docker.pid").write_text(f"{os.getpid()}\n")
    old = time.time() - 2 * STALE_AFTER_S
    for name in ("dead", "live", "engine-up"):
        os.utime(homes[name], (old, old))
    assert remove_stale(tmp_path) == ["dead"]
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["engine-up", "live", "starting"]
    assert remove_stale(tmp_path / "none") == []
