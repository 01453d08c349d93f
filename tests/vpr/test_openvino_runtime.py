"""OpenVINO runtimes: fp32 matches eager, int8 is calibrated on tiles and records its parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from harness.config import Backbone
from harness.reference.openvino_runtime import cpu_isa
from harness.reference.runtimes import make_runtime
from harness.reference.vpr.netvlad import NetVladVgg16, init_like_torchvision
from harness.run.stage import Engine

pytest.importorskip("openvino")
pytest.importorskip("nncf")


def _engine(runtime: str) -> Engine:
    torch.manual_seed(0)
    model = NetVladVgg16(width=4, clusters=4, descriptor_dim=16)
    init_like_torchvision(model)
    backbone = Backbone(name="b", weights_path=Path("x.pt"), runtime=runtime)
    return Engine(backbone, Path("x.pt"), "ab" * 32, model.eval())


def _tiles(n: int = 24) -> np.ndarray:
    """Smooth textured tiles (random noise would calibrate nothing like a corpus)."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (n, 8, 8, 3)).astype(np.uint8)
    return base.repeat(8, axis=1).repeat(8, axis=2)


def test_openvino_fp32_matches_the_eager_forward(tmp_path: Path) -> None:
    engine = _engine("openvino-fp32")
    rt, check = make_runtime(engine, 64, tmp_path, allow_fp32_fallback=False)
    assert check.ok, check.detail
    assert rt.name == "openvino-fp32" and cpu_isa() in check.detail
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        ref = engine.model(x)["vlad_descriptor"].numpy()
    assert np.all(np.sum(ref * rt.embed(x), axis=1) > 0.9999)


def test_openvino_int8_records_parity_and_reuses_its_engine(tmp_path: Path) -> None:
    engine = _engine("openvino-int8")
    _, check = make_runtime(engine, 64, tmp_path, False, tiles=_tiles)
    assert check.ok, check.detail
    assert "int8" in check.detail and "parity: cosine to fp32 min" in check.detail
    assert "built" in check.detail and len(list(tmp_path.rglob("*int8*.xml"))) == 1
    again, check2 = make_runtime(engine, 64, tmp_path, False, tiles=_tiles)
    assert "cached" in check2.detail and check2.detail.split("; ")[1] == check.detail.split("; ")[1]
    out = again.embed(torch.rand(2, 3, 64, 64))
    assert out.shape == (2, 16) and np.all(np.isfinite(out))


def test_openvino_int8_without_tiles_says_why(tmp_path: Path) -> None:
    rt, check = make_runtime(_engine("openvino-int8"), 64, tmp_path, False)
    assert rt is None and not check.ok and "calibration needs the corpus tiles" in check.detail
