"""Inputs the product scenarios need, made before the session: small deterministic checkpoints.

Nothing large is committed: the checkpoints live under models/scenarios/ (git-ignored) and
are rebuilt only when missing.
"""

from __future__ import annotations

from pathlib import Path

import torch

from harness.pipeline.vpr.netvlad import NetVladVgg16, init_like_torchvision

MODELS = Path(__file__).resolve().parent.parent / "models" / "scenarios"
# A small NetVLAD in the full layout's shape family (see the `width` etc. overrides).
TINY = {"width": 8, "clusters": 8, "descriptor_dim": 64}


class NotATensor:
    """Pickled into a checkpoint so that torch.load(weights_only=True) must refuse it."""


def _save(state: object, path: Path) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{torch.randint(1 << 30, ()).item()}.tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # atomic: xdist workers may race to make the same file


def tiny_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = NetVladVgg16(**TINY)
    init_like_torchvision(model)
    return model.state_dict()


def pytest_sessionstart(session) -> None:
    state = tiny_state()
    _save(state, MODELS / "tiny-netvlad.pt")
    broken = dict(state)
    del broken["pca.bias"]
    broken["pool.centroids"] = torch.zeros(8, 32)
    broken["head.weight"] = torch.zeros(3)
    _save(broken, MODELS / "tiny-wrong-layout.pt")
    _save({"encoder.0.weight": torch.zeros(1), "note": NotATensor()}, MODELS / "pickled-code.pt")
