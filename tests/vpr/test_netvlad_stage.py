"""NetVLAD: the layer against the paper's formula, runtimes' parity, the scaffold's bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from harness.digest import file_digest
from harness.reference.model_checks import Check, verify
from harness.reference.models.scaffold import make_scaffold
from harness.reference.operator_config import Backbone
from harness.reference.provisioned import Engine
from harness.reference.runtimes import make_runtime
from harness.reference.vpr.netvlad import NetVladPool

TINY = {"width": 4, "clusters": 4, "descriptor_dim": 16}


def slow_netvlad(pool: NetVladPool, x: torch.Tensor) -> torch.Tensor:
    """The paper's V(j, k) = sum_i a_k(x_i) (x_i(j) - c_k(j)), one cluster and pixel at a time."""
    x = F.normalize(x, dim=1)
    n, d, h, w = x.shape
    k_count = pool.centroids.shape[0]
    out = torch.zeros(n, k_count, d, dtype=torch.float64)
    for b in range(n):
        logits = pool.conv(x[b : b + 1])[0].double()  # (K, H, W)
        for i in range(h):
            for j in range(w):
                a = torch.softmax(logits[:, i, j], dim=0)
                for k in range(k_count):
                    out[b, k] += a[k] * (x[b, :, i, j].double() - pool.centroids[k].double())
    out = F.normalize(out, dim=2)
    return F.normalize(out.flatten(1), dim=1)


def test_vectorised_netvlad_matches_the_formula() -> None:
    torch.manual_seed(0)
    pool = NetVladPool(clusters=5, dim=6)
    x = torch.randn(2, 6, 3, 4)
    with torch.no_grad():
        fast = pool(x).double()
        slow = slow_netvlad(pool, x)
    assert torch.allclose(fast, slow, atol=1e-5)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    path = tmp_path / "tiny.pt"
    make_scaffold(path, **TINY)
    steps = list(verify(Backbone(name="t", weights_path=path, **TINY), path))
    assert all(s.ok for s in steps if isinstance(s, Check))
    backbone = Backbone(name="t", weights_path=path, runtime="pytorch-fp32", **TINY)
    return Engine(backbone, path, file_digest(path), steps[-1])


def _on(engine: Engine, runtime: str) -> Engine:
    """The same engine configured for another runtime."""
    backbone = engine.backbone.model_copy(update={"runtime": runtime})
    return Engine(backbone, engine.weights_path, engine.sha256, engine.model)


def test_scaffold_is_deterministic_and_honest(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "s.pt", tmp_path / "b" / "s.pt"
    assert make_scaffold(a, **TINY) == make_scaffold(b, **TINY)
    assert hashlib.sha256(a.read_bytes()).hexdigest() == hashlib.sha256(b.read_bytes()).hexdigest()
    page = a.with_suffix(".provenance.md").read_text()
    assert "NOT trained" in page and "| No |" in page


def test_torchvision_encoder_is_imported(tmp_path: Path) -> None:
    src = tmp_path / "scaffold.pt"
    make_scaffold(src, **TINY)
    state = torch.load(src, weights_only=True)
    vgg = {
        k.replace("encoder.", "features.", 1): v + 1
        for k, v in state.items()
        if k.startswith("encoder.")
    }
    vgg["classifier.0.weight"] = torch.zeros(2, 2)
    torch.save(vgg, tmp_path / "vgg16.pth")
    out = tmp_path / "with-encoder.pt"
    make_scaffold(out, vgg16_weights=tmp_path / "vgg16.pth", **TINY)
    loaded = torch.load(out, weights_only=True)
    assert torch.equal(loaded["encoder.28.weight"], state["encoder.28.weight"] + 1)
    assert "vgg16.pth" in out.with_suffix(".provenance.md").read_text()


def test_pytorch_runtime_is_the_plain_forward(engine: Engine, tmp_path: Path) -> None:
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        plain = engine.model(x)["vlad_descriptor"].numpy()  # before the runtime re-lays it out
    rt, check = make_runtime(engine, 64, tmp_path, fallback=None)
    assert check.ok and rt.name == "pytorch-fp32", check.detail
    np.testing.assert_allclose(rt.embed(x), plain, atol=1e-6)


def test_onnxruntime_matches_fp32(engine: Engine, tmp_path: Path) -> None:
    x = torch.rand(3, 3, 64, 64)
    ref, _ = make_runtime(engine, 64, tmp_path, fallback=None)
    onnx_engine = Engine(
        engine.backbone.model_copy(update={"runtime": "onnxruntime"}),
        engine.weights_path,
        engine.sha256,
        engine.model,
    )
    ort_rt, check = make_runtime(onnx_engine, 64, tmp_path, fallback=None)
    assert check.ok, check.detail
    a, b = ref.embed(x), ort_rt.embed(x)
    cos = np.sum(a * b, axis=1)
    assert np.all(cos > 0.9999)
    assert np.array_equal(np.argsort(-a @ a.T, axis=1), np.argsort(-b @ a.T, axis=1))
    # The export holds the encoder and pool; the PCA runs from the loaded checkpoint.
    (export,) = tmp_path.glob("*.onnx")
    assert export.stem.endswith("-body")


def test_fp16_and_tensorrt_say_why_they_cannot_run(engine: Engine, tmp_path: Path) -> None:
    fp16 = Engine(
        engine.backbone.model_copy(update={"runtime": "pytorch-fp16"}),
        engine.weights_path,
        engine.sha256,
        engine.model,
    )
    rt, check = make_runtime(fp16, 64, tmp_path, fallback="pytorch-fp32")
    if rt.name == "pytorch-fp32":  # this host has no fast fp16 kernels: the fallback is recorded
        assert "fell back to pytorch-fp32 on cpu as allowed" in check.detail
        rt, check = make_runtime(fp16, 64, tmp_path, fallback=None)
        assert rt is None and not check.ok and "vpr.fallback_runtime" in check.detail
    trt = Engine(
        engine.backbone.model_copy(update={"runtime": "tensorrt"}),
        engine.weights_path,
        engine.sha256,
        engine.model,
    )
    rt, check = make_runtime(trt, 64, tmp_path, fallback=None)
    assert rt is None and not check.ok and "TensorRT is not importable" in check.detail


def test_tile_descriptors_from_another_engine_build_are_not_reused(
    engine: Engine, tmp_path: Path
) -> None:
    """A rebuilt engine (other calibration, other quantisation recipe) embeds the corpus
    afresh: stale cached tiles once gave a scenario a wrong recall."""
    from dataclasses import replace

    from harness.clip.corpus import TileCorpus
    from harness.reference.vpr.queries import tile_descriptors

    tiles = np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3)).astype(np.uint8)
    corpus = TileCorpus("grid", ["a", "b", "c"], np.zeros((3, 4, 2)), 100.0, tiles, {}, "c1")
    rt, _ = make_runtime(engine, 32, tmp_path)
    first, cached = tile_descriptors(rt, engine, corpus, 32, tmp_path)
    assert not cached
    _, cached = tile_descriptors(rt, engine, corpus, 32, tmp_path)
    assert cached
    calls = []

    def other_embed(x: torch.Tensor) -> np.ndarray:
        calls.append(len(x))
        return rt.embed(x)

    rebuilt = replace(rt, embed=other_embed, build="engine-2")
    again, cached = tile_descriptors(rebuilt, engine, corpus, 32, tmp_path)
    assert not cached and calls and np.allclose(again, first)
