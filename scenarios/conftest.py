"""Inputs the product scenarios need, made before the session: checkpoints from our own code.

Nothing large is committed: the full-size scaffold (models/netvlad/), the small test
checkpoints and the trained checkpoint (models/scenarios/) are git-ignored and rebuilt only
when missing. The trained one is the default `harness provision train` recipe, kept under a
content key (settings + recipe source): the first session that selects a scenario using it
trains it (minutes, with progress on the terminal), later ones reuse it until the recipe
changes.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from harness.reference.models.checkpoint_io import INNER_NAME
from harness.reference.models.scaffold import make_scaffold
from harness.reference.models.trained import ensure_trained
from harness.reference.vpr.netvlad import NetVladVgg16, init_like_torchvision

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models" / "scenarios"
# The full-size scaffold where configs/operator_replay.yaml expects the onboard checkpoint.
SCAFFOLD = ROOT / "models" / "netvlad" / "netvlad.pt"
# The same layout with the modules' default init: every descriptor collapses to one vector.
COLLAPSED = MODELS / "netvlad-default-init.pt"
# The default recipe's trained weights (scenarios/vpr/derkachi-trained.scenario.yaml).
TRAINED_DIR = MODELS / "trained"
# A small NetVLAD in the full layout's shape family (see the `width` etc. overrides).
TINY = {"width": 8, "clusters": 8, "descriptor_dim": 64}


class NotATensor:
    """Pickled into a checkpoint so that torch.load(weights_only=True) must refuse it."""


def _save(state: object, path: Path) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # Staged under one fixed name (torch stores the file name in the archive, so the bytes
    # and the sha256 stay the same wherever the file lands), then moved atomically: xdist
    # workers may race to make the same file.
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as tmp:
        staged = Path(tmp) / INNER_NAME
        torch.save(state, staged)
        staged.replace(path)


def tiny_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = NetVladVgg16(**TINY)
    init_like_torchvision(model)
    return model.state_dict()


def make_trained(config: pytest.Config) -> Path:
    """The trained checkpoint, training it first if needed with its log on the terminal."""
    capture = config.pluginmanager.getplugin("capturemanager")  # None under -p no:capture
    uncaptured = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[provision train] %(message)s"))
    logger = logging.getLogger("harness.reference.models")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with uncaptured:
            return ensure_trained(TRAINED_DIR, ROOT / ".cache")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Train only when a selected scenario uses the trained checkpoint (minutes when new)."""
    wanted = str(TRAINED_DIR.relative_to(ROOT))
    if any(wanted in item.path.read_text() for item in session.items):
        make_trained(session.config)


def pytest_sessionstart(session) -> None:
    if not SCAFFOLD.exists():
        make_scaffold(SCAFFOLD)
    if not COLLAPSED.exists():
        torch.manual_seed(0)
        model = NetVladVgg16()
        init_like_torchvision(model)
        _save(model.state_dict(), COLLAPSED)
    state = tiny_state()
    _save(state, MODELS / "tiny-netvlad.pt")
    broken = dict(state)
    del broken["pca.bias"]
    broken["pool.centroids"] = torch.zeros(8, 32)
    broken["head.weight"] = torch.zeros(3)
    _save(broken, MODELS / "tiny-wrong-layout.pt")
    _save({"encoder.0.weight": torch.zeros(1), "note": NotATensor()}, MODELS / "pickled-code.pt")
