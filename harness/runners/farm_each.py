"""Every scenario on every matching place (`--farm-each-place`): the place list and its runners.

The controller (or the only process, without xdist) asks the coordinator once which places
match the tags and passes the answer to its workers in `HARNESS_FARM_PLACES` (JSON: place ->
tags), so every process collects the same items: one per (scenario, place). Each process
keeps one FarmRunner per place its items name (options pinned to that place), made on the
place's first item and released with the others at the end.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from harness.runners.farm import FarmOptions, FarmRunner
from harness.runners.places import Coordinator, FarmError, identity

PLACES_ENV = "HARNESS_FARM_PLACES"


def find_places(address: str, tags: dict[str, str], session_pid: int) -> dict[str, dict[str, str]]:
    """The places matching `tags` (name -> tags), sorted by name; FarmError when none."""
    coord = Coordinator(address, identity(session_pid, "collector"))
    try:
        found = {p.name: dict(p.tags) for p in coord.matching(tags)}
    finally:
        coord.close()
    if not found:
        wanted = " ".join(f"{k}={v}" for k, v in sorted(tags.items())) or "(any)"
        raise FarmError(
            f"--farm-each-place: no place on {address} has the tags {wanted}; see "
            "`labgrid-client places` and `labgrid-client -p NAME show`, or fix --farm-tags"
        )
    return dict(sorted(found.items()))


def places_from_env() -> dict[str, dict[str, str]] | None:
    """The place list the session's controller found (None outside an each-place session)."""
    text = os.environ.get(PLACES_ENV)
    return json.loads(text) if text else None


class EachPlace:
    """One FarmRunner per place this process runs items for; closed together."""

    name = "farm"

    def __init__(self, root: Path, *, options: FarmOptions, run_dir: Path) -> None:
        self.root = root
        self.options = options
        self.run_dir = run_dir
        self._runners: dict[str, FarmRunner] = {}

    def runner(self, place: str) -> FarmRunner:
        if place not in self._runners:
            options = self.options.pinned(place)
            self._runners[place] = FarmRunner(self.root, options=options, run_dir=self.run_dir)
        return self._runners[place]

    def close(self) -> None:
        """Release every place this process holds (session end, Ctrl-C, atexit)."""
        for runner in self._runners.values():
            runner.close()
