"""The whole ladder as ledger transitions: one product scenario, three sessions, three backbones.

scenarios/vpr/derkachi-trained.scenario.yaml as the team would have edited it along the way:
no backbones (SKIP); the scaffold as upstream deploys it, raw frames at 240 px (stops at
retrieval-quality); the trained checkpoint with the query preprocessing its provenance asks
for, as shipped (PASS through the ESKF gate). Full-size models on the 60 s clip: marked slow.
The trained checkpoint is the one the product scenarios use, made once by the default recipe
and reused (minutes when new).
"""

from __future__ import annotations

import io
from itertools import pairwise
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from harness.history.ledger import Ledger
from harness.history.transitions import compare
from harness.reference.models.scaffold import make_scaffold
from harness.reference.models.trained import ensure_trained

REPO = Path(__file__).resolve().parents[2]
PRODUCT = REPO / "scenarios" / "vpr" / "derkachi-trained.scenario.yaml"
SCAFFOLD = REPO / "models" / "netvlad" / "netvlad.pt"
WEIGHTS_KEY = "c10_provisioning.backbones.0.weights_path"


@pytest.fixture(scope="session")
def checkpoints() -> dict[str, Path]:
    """The scaffold and the trained checkpoint where the product scenarios expect them."""
    if not SCAFFOLD.exists():
        make_scaffold(SCAFFOLD)
    trained = ensure_trained(REPO / "models" / "scenarios" / "trained", REPO / ".cache")
    return {"scaffold": SCAFFOLD, "trained": trained}


def _variant(overrides: dict, expect: str, **vpr) -> str:
    """The product scenario's text with its overrides, expect and some `vpr` fields replaced."""
    yaml = YAML()
    tree = yaml.load(PRODUCT.read_text())
    tree["overrides"] = overrides
    tree["expect"] = expect
    if expect == "retrieval-quality":  # a failing gate pins its reason
        tree["expect_reason"] = "^recall@1 "
    tree["vpr"].update(vpr)
    out = io.StringIO()
    yaml.dump(tree, out)
    return out.getvalue()


@pytest.mark.slow
def test_empty_scaffold_trained_show_the_ladder_as_forward_moves(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, checkpoints: dict[str, Path]
) -> None:
    # the shared clip and descriptor caches: the 60 s clip is made once for the whole suite
    (project.path / ".cache").symlink_to(REPO / ".cache", target_is_directory=True)
    raw = {"align": "none", "input_px": 240}  # the scaffold as upstream deploys it
    steps = [
        ("run-empty", {"c10_provisioning.backbones": []}, "empty-backbones", "skipped", {}),
        (
            "run-scaffold",
            {WEIGHTS_KEY: str(checkpoints["scaffold"])},
            "retrieval-quality",
            "xfailed",
            raw,
        ),
        ("run-trained", {WEIGHTS_KEY: str(checkpoints["trained"])}, "pass", "passed", {}),
    ]
    for run_id, overrides, expect, outcome, vpr in steps:
        text = _variant(overrides, expect, **vpr)
        project.makefile(".scenario.yaml", **{"derkachi-trained": text})
        monkeypatch.setenv("HARNESS_RUN_ID", run_id)
        # The stack in its own process (the local runner): pytester takes out of sys.modules
        # what each inline session imported, and torch and OpenVINO (building the scenario's
        # int8 fallback) do not survive a second import in one process.
        result = project.runpytest("-p", "no:cacheprovider", "--runner", "local")
        result.assert_outcomes(**{outcome: 1})
    ledger = Ledger(project.path / "reports" / "gate-ledger.sqlite")
    rows = ledger.rows(scenario="derkachi-trained")
    assert [r.gate for r in rows] == ["empty-backbones", "retrieval-quality", "pass"]
    scaffold_row, trained_row = rows[1], rows[2]
    assert scaffold_row.metrics["retrieval-quality.recall"] < 0.8
    assert trained_row.metrics["retrieval-quality.recall"] >= 0.8
    assert trained_row.metrics["eskf-divergence.rmse_m"] <= 58
    first, second = (compare([a], [b])[0] for a, b in pairwise(rows))
    assert (first.move, second.move) == ("forward", "forward"), (first.note, second.note)
    assert (
        second.note.startswith("checkpoint ") and second.before.clip_hash == second.after.clip_hash
    )
