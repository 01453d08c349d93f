"""Inputs the product scenarios need, made before they run: checkpoints from our own code.

Nothing large is committed: the full-size scaffold (models/netvlad/), the small test
checkpoints and the trained checkpoint (models/scenarios/) are git-ignored and rebuilt only
when missing, and only those the selected scenarios name. Collection does no model work
(`--collect-only` builds nothing): the builds run once the session is about to run its
scenarios, in each process that runs them (not the xdist controller), each under a file lock
with an atomic write (harness.atomic), so two workers never make the same file twice.
The trained one is the default `harness provision train` recipe, kept under a
content key (settings + recipe source): the first session that selects a scenario using it
trains it (minutes, with progress on the terminal), later ones reuse it until the recipe
changes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path

import pytest

from harness.atomic import build_lock
from harness.build_times import timed

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models" / "scenarios"
# The full-size scaffold where configs/operator_replay.yaml expects the onboard checkpoint.
SCAFFOLD = ROOT / "models" / "netvlad" / "netvlad.pt"
# NetVLAD's default init (centroids uniform in [0, 1)) on the full VGG16 encoder: every
# descriptor collapses to one vector. 8 clusters and a 64-d PCA collapse as the full head does
# (the centroids dwarf the unit features); the full one would add a 512 MiB PCA to show it.
COLLAPSED = MODELS / "default-init-8x64.pt"
COLLAPSED_LAYOUT = {"clusters": 8, "descriptor_dim": 64}
# The default recipe's trained weights (scenarios/vpr/derkachi-trained.scenario.yaml).
TRAINED_DIR = MODELS / "trained"
# The trained checkpoint fine-tuned on real survey frames (real-imagery/zr10-finetuned).
FINETUNED_DIR = MODELS / "real-finetuned"
# A small NetVLAD in the full layout's shape family (see the `width` etc. overrides).
TINY = {"width": 8, "clusters": 8, "descriptor_dim": 64}


class NotATensor:
    """Pickled into a checkpoint so that torch.load(weights_only=True) must refuse it."""


def _save(state: object, path: Path) -> None:
    import torch

    from harness.atomic import atomic_path
    from harness.reference.models.checkpoint_io import INNER_NAME

    # Under one fixed inner name: torch stores the file name in the archive, so the bytes
    # (and the sha256 a scenario pins) stay the same wherever the file lands.
    with atomic_path(path, inner_name=INNER_NAME) as tmp:
        torch.save(state, tmp)


def tiny_state() -> dict:
    import torch

    from harness.reference.vpr.netvlad import NetVladVgg16, init_like_torchvision

    torch.manual_seed(0)
    model = NetVladVgg16(**TINY)
    init_like_torchvision(model)
    return model.state_dict()


def make_trained(config: pytest.Config, finetuned: bool = False) -> Path:
    """The trained checkpoint (or the one fine-tuned on real frames), training it first if
    needed with its log on the terminal."""
    capture = config.pluginmanager.getplugin("capturemanager")  # None under -p no:capture
    uncaptured = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[provision train] %(message)s"))
    logger = logging.getLogger("harness.reference.models")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    from harness.reference.models.trained import ensure_finetuned, ensure_trained

    try:
        with uncaptured:
            if finetuned:
                return ensure_finetuned(FINETUNED_DIR, TRAINED_DIR, ROOT, ROOT / ".cache")
            return ensure_trained(TRAINED_DIR, ROOT / ".cache")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _collapsed(path: Path) -> None:
    import torch

    from harness.reference.vpr.netvlad import NetVladVgg16, init_like_torchvision

    torch.manual_seed(0)
    model = NetVladVgg16(**COLLAPSED_LAYOUT)
    init_like_torchvision(model)
    _save(model.state_dict(), path)


def _wrong_layout(path: Path) -> None:
    import torch

    broken = dict(tiny_state())
    del broken["pca.bias"]
    broken["pool.centroids"] = torch.zeros(8, 32)
    broken["head.weight"] = torch.zeros(3)
    _save(broken, path)


def _pickled_code(path: Path) -> None:
    import torch

    _save({"encoder.0.weight": torch.zeros(1), "note": NotATensor()}, path)


def _scaffold(path: Path) -> None:
    from harness.reference.models.scaffold import make_scaffold

    make_scaffold(path)


BUILDERS = {
    SCAFFOLD: _scaffold,
    COLLAPSED: _collapsed,
    MODELS / "tiny-netvlad.pt": lambda path: _save(tiny_state(), path),
    MODELS / "tiny-wrong-layout.pt": _wrong_layout,
    MODELS / "pickled-code.pt": _pickled_code,
}


def _named(items: list[pytest.Item]) -> set[str]:
    """The checkpoint paths the selected scenarios name (absolute, links kept)."""
    named = set()
    for item in items:
        loaded = getattr(item, "loaded", None)
        for stack_file in loaded.settings.files() if loaded else ():
            if stack_file.role == "checkpoint":  # the reference stack's; a black box has none
                named.add(os.path.abspath(stack_file.path))
    return named


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Make what the selected scenarios need, just before they run (never when collecting,
    never on an xdist controller, which runs nothing)."""
    config = session.config
    controller = config.getoption("dist", "no") != "no" and not hasattr(config, "workerinput")
    if config.option.collectonly or controller or not session.items:
        return
    named = _named(session.items)
    for path, build in BUILDERS.items():
        if os.path.abspath(path) in named and not path.exists():
            kind = "scaffold" if path == SCAFFOLD else "test checkpoints"
            with build_lock(path), timed(kind, path.name):
                if not path.exists():
                    build(path)
    texts = [item.path.read_text() for item in session.items]
    if any(str(TRAINED_DIR.relative_to(ROOT)) in text for text in texts):
        make_trained(config)
    if any(str(FINETUNED_DIR.relative_to(ROOT)) in text for text in texts):
        make_trained(config, finetuned=True)
