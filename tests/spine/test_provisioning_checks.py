"""Provisioning checks on checkpoints the tests make: each failure named, layout errors at once."""

from __future__ import annotations

from pathlib import Path

import torch

from harness.digest import file_digest
from harness.reference.model_checks import Check, verify
from harness.reference.operator_config import Backbone
from harness.reference.vpr.netvlad import FULL_PARAMETERS, NetVladVgg16, expected_layout

TINY = {"width": 4, "clusters": 4, "descriptor_dim": 16}


def _backbone(path: Path, **kw) -> Backbone:
    return Backbone(name="b", weights_path=path, **{**TINY, **kw})


def _checks(backbone: Backbone) -> list[Check | object]:
    return list(verify(backbone, backbone.weights_path))


def _tiny(path: Path) -> Path:
    torch.manual_seed(0)
    torch.save(NetVladVgg16(**TINY).state_dict(), path)
    return path


def test_full_layout_is_the_upstream_one() -> None:
    layout = expected_layout()
    assert len(layout) == 31
    assert sum(int(torch.Size(s).numel()) for s in layout.values()) == FULL_PARAMETERS
    assert layout["pool.conv.weight"] == (64, 512, 1, 1) and layout["pca.weight"] == (4096, 32768)
    convs = sorted({int(k.split(".")[1]) for k in layout if k.startswith("encoder.")})
    assert convs == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


def test_good_checkpoint_passes_every_check_and_loads(tmp_path: Path) -> None:
    path = _tiny(tmp_path / "ok.pt")
    steps = _checks(_backbone(path, sha256=file_digest(path)))
    assert [s.check for s in steps[:-1]] == [
        "exists",
        "sha256",
        "weights_only",
        "layout",
        "strict_load",
        "finite",
        "forward",
    ]
    assert all(s.ok for s in steps[:-1])
    out = steps[-1](torch.rand(1, 3, 32, 32))["vlad_descriptor"]
    assert out.shape == (1, 16) and torch.allclose(out.norm(), torch.tensor(1.0))


def test_truncated_file_is_unreadable(tmp_path: Path) -> None:
    path = _tiny(tmp_path / "cut.pt")
    path.write_bytes(path.read_bytes()[:1000])
    last = _checks(_backbone(path))[-1]
    assert last.check == "weights_only" and not last.ok
    assert "not a readable torch checkpoint" in last.detail and str(path) in last.detail


def test_non_dict_and_sha_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], path)
    last = _checks(_backbone(path))[-1]
    assert not last.ok and "holds a list, not a state_dict" in last.detail
    last = _checks(_backbone(path, sha256="0" * 64))[-1]
    assert last.check == "sha256" and "the config pins 000" in last.detail


def test_layout_reports_missing_unexpected_and_misshaped_together(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = NetVladVgg16(**TINY).state_dict()
    del state["encoder.28.bias"]
    state["pca.weight"] = torch.zeros(3, 3)
    state["module.extra"] = torch.zeros(1)
    torch.save(state, tmp_path / "bad.pt")
    last = _checks(_backbone(tmp_path / "bad.pt"))[-1]
    assert last.check == "layout" and not last.ok
    assert "missing encoder.28.bias [32]" in last.detail
    assert "pca.weight has shape [3, 3], expected [16, 128]" in last.detail
    assert "unexpected module.extra" in last.detail


def test_a_nan_weight_stops_provisioning_naming_the_tensor(tmp_path: Path) -> None:
    """A checkpoint with NaN weights would make NaN descriptors: provisioning stops first."""
    torch.manual_seed(0)
    state = NetVladVgg16(**TINY).state_dict()
    state["pool.centroids"][1, 2] = float("nan")
    state["pca.weight"][0, 0] = float("inf")
    torch.save(state, tmp_path / "nan.pt")
    last = _checks(_backbone(tmp_path / "nan.pt"))[-1]
    assert last.check == "finite" and not last.ok
    assert "tensor pool.centroids holds NaN (1 of 128 values)" in last.detail


def test_weights_that_overflow_stop_at_the_forward_probe(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = NetVladVgg16(**TINY).state_dict()
    for key in state:
        if key.startswith("encoder.") and key.endswith("weight"):
            state[key] = state[key] * 1e30
    torch.save(state, tmp_path / "big.pt")
    last = _checks(_backbone(tmp_path / "big.pt"))[-1]
    assert last.check == "forward" and not last.ok and "non-finite descriptor" in last.detail


def test_out_of_memory_in_a_runtime_is_not_a_provisioning_verdict(tmp_path: Path) -> None:
    """The runtime check reports model problems; running out of memory breaks the run."""
    import pytest

    from harness.reference.provisioned import Engine
    from harness.reference.runtimes import make_runtime

    class Hungry(torch.nn.Module):
        """Runs out of memory in its encoder (what an engine export runs first)."""

        def encoder(self, x):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

        def forward(self, x):
            return self.encoder(x)

    engine = Engine(_backbone(tmp_path / "x.pt", runtime="onnxruntime"), tmp_path, "0" * 64)
    engine.model = Hungry()
    with pytest.raises(RuntimeError, match="out of memory"):
        make_runtime(engine, 32, tmp_path, fallback="pytorch-fp32")
