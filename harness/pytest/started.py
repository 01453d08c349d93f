"""What a worker leaves in a scenario's run folder before the run starts (`started.json`), so
that the controller can report the scenario should the worker die during it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

STARTED_NAME = "started.json"


@dataclass(frozen=True)
class Started:
    """What the worker wrote before the run: enough to report the scenario without its item."""

    nodeid: str
    name: str
    scenario_path: str
    expect: str
    runner: str
    allure_full_name: str = ""
    device: str = ""  # the farm place it ran on ("" elsewhere or not yet known)

    def write(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / STARTED_NAME).write_text(json.dumps(self.__dict__), encoding="utf-8")

    @classmethod
    def read(cls, out_dir: Path) -> Started | None:
        try:
            data = json.loads((out_dir / STARTED_NAME).read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError):
            return None
