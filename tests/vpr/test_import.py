"""`harness provision import`: pytorch-NetVlad checkpoints made here in the source's own layout,
translated, and checked against a forward written in the source's own terms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harness.commands.main import main
from harness.digest import file_digest
from harness.errors import ProvisioningError
from harness.reference.models.importer import import_checkpoint
from harness.reference.vpr.netvlad import NetVladVgg16

TINY = {"width": 4, "clusters": 4, "descriptor_dim": 16}
TINY_FLAGS = ["--width", "4", "--clusters", "4", "--descriptor-dim", "16"]
# torchvision's VGG16 `cfg "D"` at 1/16 of the channels ("M" = max-pool)
VGG16_CFG = (4, 4, "M", 8, 8, "M", 16, 16, 16, "M", 32, 32, 32, "M", 32, 32, 32, "M")


class SourceNetVLAD(nn.Module):
    """pytorch-NetVlad's layer as its authors wrote it: a bias only with vladv2, a loop over
    clusters for the residuals."""

    def __init__(self, clusters: int, dim: int, vladv2: bool) -> None:
        super().__init__()
        self.clusters = clusters
        self.conv = nn.Conv2d(dim, clusters, kernel_size=(1, 1), bias=vladv2)
        # k-means centres of unit descriptors: shorter than 1, each by its own amount
        self.centroids = nn.Parameter(
            torch.randn(clusters, dim) * torch.rand(clusters, 1) / dim**0.5
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        x = F.normalize(x, p=2, dim=1)
        assign = F.softmax(self.conv(x).view(n, self.clusters, -1), dim=1)
        flat = x.view(n, c, -1)
        vlad = torch.zeros(n, self.clusters, c)
        for k in range(self.clusters):
            residual = flat - self.centroids[k].view(1, c, 1)
            vlad[:, k, :] = (residual * assign[:, k : k + 1, :]).sum(dim=-1)
        vlad = F.normalize(vlad, p=2, dim=2)
        return F.normalize(vlad.view(n, -1), p=2, dim=1)


def source_model(vladv2: bool, wpca: bool, data_parallel: bool, seed: int = 0) -> nn.Module:
    """The source's model: VGG16 features[:-2] as `encoder`, `pool`, and Patch-NetVLAD's WPCA."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    channels = 3
    for step in VGG16_CFG:
        if step == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            conv = nn.Conv2d(channels, step, 3, padding=1)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            layers += [conv, nn.ReLU(inplace=True)]
            channels = step
    model = nn.Module()
    model.add_module("encoder", nn.Sequential(*layers[:-2]))  # as the source cuts it
    model.add_module("pool", SourceNetVLAD(4, channels, vladv2))
    with torch.no_grad():
        model.pool.conv.weight.mul_(20.0)  # a trained-like, non-uniform soft-assignment
    if wpca:
        model.add_module("WPCA", nn.Sequential(nn.Conv2d(4 * channels, 16, kernel_size=(1, 1))))
    if data_parallel:  # as pytorch-NetVlad wraps its parts with nGPU > 1 (no GPU needed here)
        model.encoder = nn.DataParallel(model.encoder)
        model.pool = nn.DataParallel(model.pool)
    return model.eval()


@torch.no_grad()
def source_forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """encoder -> NetVLAD -> (WPCA conv on (N, K*C, 1, 1) -> flatten) -> L2, as the source runs."""
    vlad = model.pool(model.encoder(x))
    if not hasattr(model, "WPCA"):
        return vlad
    return F.normalize(model.WPCA(vlad.unsqueeze(-1).unsqueeze(-1)).flatten(1), p=2, dim=1)


def save_source(model: nn.Module, path: Path, legacy: bool = False) -> Path:
    """A training checkpoint as pytorch-NetVlad writes it, numpy scalars and all."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    recalls = {1: np.float64(0.61), 5: np.float64(0.8), 10: np.float32(0.9)}
    checkpoint = {
        "epoch": 7,
        "state_dict": model.state_dict(),
        "recalls": recalls,
        "best_score": np.float64(0.8),
        "optimizer": optimizer.state_dict(),
        "parse_flags": "--arch=vgg16 --pooling=netvlad --num_clusters=4",
        "kept_scores": np.array([0.5, 0.8]),
    }
    torch.save(checkpoint, path, _use_new_zipfile_serialization=not legacy)
    return path


def imported_model(path: Path) -> NetVladVgg16:
    model = NetVladVgg16(**TINY)
    model.load_state_dict(torch.load(path, weights_only=True), strict=True)
    return model.eval()


@pytest.mark.parametrize(
    ("vladv2", "data_parallel", "legacy"),
    [(False, False, False), (False, True, True), (True, False, False), (True, True, False)],
)
def test_imported_descriptors_match_the_source_forward(
    tmp_path: Path, vladv2: bool, data_parallel: bool, legacy: bool
) -> None:
    source = source_model(vladv2, wpca=True, data_parallel=data_parallel)
    src = save_source(source, tmp_path / "model_best.pth.tar", legacy=legacy)
    result = import_checkpoint(src, tmp_path / "netvlad.pt", **TINY)
    x = torch.randn(3, 3, 64, 80)
    ref = source_forward(source, x)
    with torch.no_grad():
        ours = imported_model(result.out)(x)["vlad_descriptor"]
    assert ours.shape == (3, 16)
    assert torch.allclose(ours, ref, atol=1e-5), (ours - ref).abs().max()
    assert torch.all((ours * ref).sum(dim=1) > 0.9999)
    assert result.translation.choices["assignment_bias"] == ("source" if vladv2 else "zeros")
    assert result.translation.choices["pca"] == "source"


def test_a_bias_derived_from_the_centroids_would_not_be_the_source(tmp_path: Path) -> None:
    """Why the import writes zeros: the vladv2 bias (-alpha |c_k|) moves the assignments."""
    source = source_model(False, wpca=True, data_parallel=False)
    src = save_source(source, tmp_path / "best.pth.tar")
    model = imported_model(import_checkpoint(src, tmp_path / "n.pt", **TINY).out)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        exact = model(x)["vlad_descriptor"]
        alpha = model.pool.conv.weight.flatten(1).norm(dim=1).mean()
        model.pool.conv.bias.copy_(-alpha * model.pool.centroids.norm(dim=1))
        derived = model(x)["vlad_descriptor"]
    assert torch.allclose(exact, source_forward(source, x), atol=1e-5)
    assert (exact - derived).abs().max() > 1e-3


def test_provenance_records_source_bias_pca_and_extras(tmp_path: Path) -> None:
    src = save_source(source_model(False, True, True), tmp_path / "checkpoint.pth.tar")
    result = import_checkpoint(src, tmp_path / "netvlad.pt", **TINY)
    doc = json.loads((tmp_path / "netvlad.provenance.json").read_text())
    assert doc["sha256"] == file_digest(tmp_path / "netvlad.pt") == result.sha256
    assert doc["source"]["sha256"] == file_digest(src)
    assert doc["source"]["extras"]["best_score"] == pytest.approx(0.8)
    assert doc["source"]["extras"]["recalls"]["5"] == pytest.approx(0.8)
    assert doc["source"]["data_parallel_keys"] == 26 + 2  # encoder and pool, not the WPCA
    assert doc["choices"] == {"assignment_bias": "zeros", "pca": "source", "encoder": "source"}
    assert {"from": "pool.module.centroids", "to": "pool.centroids", "how": "copied"} in doc[
        "mapping"
    ]
    page = (tmp_path / "netvlad.provenance.md").read_text()
    assert "assignment bias: zeros" in page and "vladv2=False" in page
    assert "| pca.weight | WPCA.0.weight | reshaped" in page
    assert "ImageNet mean/std" in page
    assert "best_score 0.8" in page and 'recalls {"1": 0.61, "5": 0.8' in page  # not reprs
    assert doc["source"]["extras"]["optimizer"] == "dict (not used)"


def test_missing_pca_is_refused_unless_random_pca_is_asked_for(tmp_path: Path) -> None:
    source = source_model(False, wpca=False, data_parallel=False)
    src = save_source(source, tmp_path / "nanne.pth.tar")
    with pytest.raises(ProvisioningError) as err:
        import_checkpoint(src, tmp_path / "a.pt", **TINY)
    assert str(src) in str(err.value) and "--random-pca" in str(err.value)
    assert not (tmp_path / "a.pt").exists()
    a = import_checkpoint(src, tmp_path / "a" / "n.pt", random_pca=True, seed=3, **TINY)
    b = import_checkpoint(src, tmp_path / "b" / "n.pt", random_pca=True, seed=3, **TINY)
    assert a.sha256 == b.sha256, "a seeded import gives the same bytes"
    model = imported_model(a.out)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        vlad = model.pool(model.encoder(x))
        assert torch.allclose(vlad, source_forward(source, x), atol=1e-6)  # trained part exact
        expected = F.normalize(vlad @ model.pca.weight.T, dim=1)  # the projection, zero bias
        assert torch.allclose(model(x)["vlad_descriptor"], expected, atol=1e-6)
    doc = json.loads(a.out.with_suffix(".provenance.json").read_text())
    assert doc["choices"]["pca"] == "random"
    assert doc["layers"]["pca.weight, pca.bias"]["trained_for_vpr"] is False
    assert "NOT trained" in a.out.with_suffix(".provenance.md").read_text()


def test_a_pool_only_source_takes_its_encoder_from_a_torchvision_file(tmp_path: Path) -> None:
    source = source_model(False, wpca=True, data_parallel=False)
    state = source.state_dict()
    pool_only = {k: v for k, v in state.items() if not k.startswith("encoder.")}
    torch.save({"epoch": 1, "state_dict": pool_only}, tmp_path / "pool.pth.tar")
    vgg = {k.replace("encoder.", "features.", 1): v for k, v in state.items() if "encoder." in k}
    vgg["classifier.6.weight"] = torch.zeros(10, 4)
    torch.save(vgg, tmp_path / "vgg16.pth")
    with pytest.raises(ProvisioningError, match="pass --vgg16 FILE"):
        import_checkpoint(tmp_path / "pool.pth.tar", tmp_path / "x.pt", **TINY)
    result = import_checkpoint(
        tmp_path / "pool.pth.tar", tmp_path / "x.pt", vgg16=tmp_path / "vgg16.pth", **TINY
    )
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(
            imported_model(result.out)(x)["vlad_descriptor"], source_forward(source, x), atol=1e-5
        )
    assert result.translation.choices["encoder"] == "torchvision"
    full = save_source(source, tmp_path / "full.pth.tar")
    with pytest.raises(ProvisioningError, match="drop --vgg16"):
        import_checkpoint(full, tmp_path / "y.pt", vgg16=tmp_path / "vgg16.pth", **TINY)


def test_other_dtypes_are_cast_to_float32_and_said(tmp_path: Path) -> None:
    source = source_model(False, wpca=True, data_parallel=False)
    state = source.state_dict()
    state["pool.centroids"] = state["pool.centroids"].double()  # k-means in float64
    torch.save({"state_dict": state}, tmp_path / "f64.pth.tar")
    result = import_checkpoint(tmp_path / "f64.pth.tar", tmp_path / "n.pt", **TINY)
    assert ("pool.centroids", "pool.centroids", "copied, cast from torch.float64") in (
        result.translation.mapping
    )
    loaded = torch.load(result.out, weights_only=True)
    assert all(v.dtype == torch.float32 for v in loaded.values())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(
            imported_model(result.out)(x)["vlad_descriptor"], source_forward(source, x), atol=1e-5
        )


class _RunsCode:
    def __reduce__(self):
        return (exec, ("open('ran-code', 'w').close()",))


def test_pickled_code_is_refused_and_never_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "evil.pth.tar"
    torch.save({"state_dict": source_model(False, True, False).state_dict(), "x": _RunsCode()}, src)
    with pytest.raises(ProvisioningError) as err:
        import_checkpoint(src, tmp_path / "out.pt", **TINY)
    msg = str(err.value)
    assert str(src) in msg and "weights_only=True" in msg and "it pickles exec" in msg
    assert "re-save" in msg  # the fix
    assert not (tmp_path / "ran-code").exists() and not (tmp_path / "out.pt").exists()


def test_wrong_shapes_and_missing_keys_are_named_with_the_fix(tmp_path: Path) -> None:
    state = source_model(False, True, data_parallel=True).state_dict()
    state["pool.module.centroids"] = torch.zeros(5, 32)
    del state["encoder.module.28.bias"]
    state["pool.module.extra"] = torch.zeros(1)
    torch.save({"state_dict": state, "best_score": np.float64(0.5)}, tmp_path / "bad.pth.tar")
    with pytest.raises(ProvisioningError) as err:
        import_checkpoint(tmp_path / "bad.pth.tar", tmp_path / "out.pt", **TINY)
    msg = str(err.value)
    assert msg.startswith(str(tmp_path / "bad.pth.tar"))
    assert "pool.module.centroids has shape [5, 32], expected [4, 32]" in msg
    assert "missing encoder.28.bias [32]" in msg
    assert "unexpected key pool.module.extra" in msg
    assert "Fix: its own shapes say `--width 4 --clusters 5 --descriptor-dim 16`" in msg
    # the full-size defaults against a tiny file: every mismatch at once, and the flags to pass
    good = save_source(source_model(False, True, False), tmp_path / "tiny.pth.tar")
    with pytest.raises(ProvisioningError) as err:
        import_checkpoint(good, tmp_path / "out.pt")
    assert "encoder.0.weight has shape [4, 3, 3, 3], expected [64, 3, 3, 3]" in str(err.value)
    assert "`--width 4 --clusters 4 --descriptor-dim 16`" in str(err.value)
    # a key missing from a file of the right size: no flag would help
    state = source_model(False, True, False).state_dict()
    del state["pool.conv.weight"]
    torch.save({"state_dict": state}, tmp_path / "cut.pth.tar")
    with pytest.raises(ProvisioningError) as err:
        import_checkpoint(tmp_path / "cut.pth.tar", tmp_path / "out.pt", **TINY)
    assert "missing pool.conv.weight [4, 32, 1, 1]" in str(err.value)
    assert "Fix: give a complete pytorch-NetVlad VGG16 NetVLAD checkpoint" in str(err.value)


def test_non_tensor_state_entries_are_refused(tmp_path: Path) -> None:
    state = dict(source_model(False, True, False).state_dict())
    state["pool.alpha"] = 12.5
    torch.save({"state_dict": state}, tmp_path / "odd.pth.tar")
    with pytest.raises(ProvisioningError, match=r"odd\.pth\.tar: state_dict entry pool\.alpha"):
        import_checkpoint(tmp_path / "odd.pth.tar", tmp_path / "out.pt", **TINY)


def test_cli_prints_the_sha_to_pin_and_the_choices(tmp_path: Path, capsys) -> None:
    src = save_source(source_model(False, True, True), tmp_path / "best.pth.tar")
    out = tmp_path / "models" / "netvlad.pt"
    assert main(["provision", "import", str(src), "--out", str(out), *TINY_FLAGS]) == 0
    printed = capsys.readouterr().out
    sha = file_digest(out)
    assert f"{out}: sha256 {sha}" in printed
    assert f"c10_provisioning.backbones[].sha256: {sha}" in printed
    assert "assignment bias: zeros" in printed and "DataParallel `module.` removed" in printed
    config = tmp_path / "configs" / "operator.yaml"
    config.parent.mkdir()
    config.write_text(
        "c10_provisioning:\n  backbones:\n"
        f"    - {{name: imported, weights_path: {out}, sha256: {sha}, runtime: pytorch-fp32,"
        " width: 4, clusters: 4, descriptor_dim: 16}\n"
    )
    assert main(["provision", "verify", "--config", str(config), "--input-px", "64"]) == 0
    assert "forward      ok" in capsys.readouterr().out
    no_pca = save_source(source_model(False, False, False), tmp_path / "nopca.pth.tar")
    assert main(["provision", "import", str(no_pca), "--out", str(out), *TINY_FLAGS]) == 1
    assert "--random-pca" in capsys.readouterr().err
