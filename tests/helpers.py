"""Helpers for the framework's tests: scenario text builders, folder snapshots."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

# Scenarios expecting a failing gate must pin why; a test not about the reason accepts any.
ANY_REASON = "'.'"


def scenario_text(name: str, expect: str, **extra: str) -> str:
    """A minimal valid scenario; `extra` adds top-level YAML blocks verbatim."""
    body = f"""\
        format_version: 1
        name: {name}
        config: configs/operator_replay.yaml
        clip:
          synth: {{preset: derkachi-60s, seed: 7}}
        expect: {expect}
        """
    text = textwrap.dedent(body)
    if expect not in ("pass", "empty-backbones") and "expect_reason" not in extra:
        extra = {**extra, "expect_reason": ANY_REASON}
    for key, value in extra.items():
        text += f"{key}: {value}\n"
    return text


# A small NetVLAD in the full layout's family, at models/tiny.pt under the project root.
TINY = {"width": 8, "clusters": 8, "descriptor_dim": 64}
TINY_OVERRIDES = """\
overrides:
  c10_provisioning.backbones.0.weights_path: models/tiny.pt
  c10_provisioning.backbones.0.runtime: pytorch-fp32
  c10_provisioning.backbones.0.width: 8
  c10_provisioning.backbones.0.clusters: 8
  c10_provisioning.backbones.0.descriptor_dim: 64
"""


def tiny_project(root: Path) -> Path:
    """A project at `root` for real runs: the pyproject marker, the real operator config and a
    tiny scaffold checkpoint at models/tiny.pt (TINY_OVERRIDES points the config at it)."""
    from harness.reference.models.scaffold import make_scaffold

    repo = Path(__file__).resolve().parents[1]
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (root / "configs").mkdir()
    config = (repo / "configs" / "operator_replay.yaml").read_text()
    (root / "configs" / "operator_replay.yaml").write_text(config)
    make_scaffold(root / "models" / "tiny.pt", **TINY)
    return root


def tree_snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` -> (size, mtime in ns), every folder -> (-1, 0) (its presence);
    empty when `root` does not exist."""
    if not root.is_dir():
        return {}
    out = {}
    for path in root.rglob("*"):
        try:
            st = path.lstat()
        except FileNotFoundError:  # removed while we walked
            continue
        is_dir = path.is_dir() and not path.is_symlink()
        out[str(path.relative_to(root))] = (-1, 0) if is_dir else (st.st_size, st.st_mtime_ns)
    return out


def tree_changes(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> list[str]:
    """Files added, removed or rewritten between two snapshots, each labelled."""
    added = [f"{p} (new)" for p in sorted(after.keys() - before.keys())]
    gone = [f"{p} (removed)" for p in sorted(before.keys() - after.keys())]
    changed = [
        f"{p} (changed)" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]
    ]
    return added + gone + changed


def sweep_record(
    path: Path, scenario: dict, steps: list[dict], skipped: list[float] | None = None
) -> Path:
    """A finished record at `path`: `scenario` in its condition line, one `sweep/step` event
    per step (the fields a sweep writes), the rates `skipped`, then the end line."""
    lines = [{"kind": "condition", "scenario": scenario, "provenance": {}}]
    lines += [{"kind": "event", "stage": "sweep", "type": "step", **s} for s in steps]
    if skipped:
        lines.append({"kind": "event", "stage": "sweep", "type": "skipped", "speeds": skipped})
    lines.append({"kind": "end"})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path
