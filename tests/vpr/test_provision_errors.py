"""`harness provision verify|import`: every broken input is one line naming the file, what it
is and the fix; no traceback, no `.part` left behind, `--out` checked before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from harness.commands.main import main
from harness.reference.models.scaffold import make_scaffold
from tests.vpr.test_import import TINY, TINY_FLAGS, save_source, source_model
from tests.vpr.test_matlab_import import release_layers, write_v5

REPO = Path(__file__).resolve().parents[2]
SMALL = {"width": 8, "clusters": 8, "descriptor_dim": 64}


def _config(tmp_path: Path, weights: Path) -> Path:
    text = (REPO / "configs" / "operator_replay.yaml").read_text()
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    doc = yaml.load(text)
    backbone = doc["c10_provisioning"]["backbones"][0]
    backbone["weights_path"] = str(weights)
    backbone.pop("onnx_path", None)
    backbone["sha256"] = None
    backbone["width"], backbone["clusters"], backbone["descriptor_dim"] = 8, 8, 64
    path = tmp_path / "operator.yaml"
    with path.open("w") as f:
        yaml.dump(doc, f)
    return path


def _verify(tmp_path: Path, weights: Path, capsys) -> str:
    code = main(
        ["provision", "verify", "--config", str(_config(tmp_path, weights)), "--input-px", "32"]
    )
    out = capsys.readouterr()
    assert code == 1 and "Traceback" not in out.out + out.err
    return out.out + out.err


def _onnx_file(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    onnx.save(helper.make_model(graph), path)
    return path


def test_verify_names_every_foreign_or_broken_file(tmp_path: Path, capsys) -> None:
    write_v5(tmp_path / "release.mat", *release_layers())
    out = _verify(tmp_path, tmp_path / "release.mat", capsys)
    assert "release.mat: is a MATLAB .mat file (v5/v7)" in out and "provision import" in out
    out = _verify(tmp_path, _onnx_file(tmp_path / "model.onnx"), capsys)
    assert "model.onnx: is an ONNX model" in out and "state_dict (.pt)" in out
    (tmp_path / "notes.pt").write_text("weights are on the share\n")
    assert "notes.pt: is a text file" in _verify(tmp_path, tmp_path / "notes.pt", capsys)
    (tmp_path / "folder.pt").mkdir()
    out = _verify(tmp_path, tmp_path / "folder.pt", capsys)
    assert "folder.pt is a directory" in out and "does not exist" not in out


def test_verify_refuses_float64_and_nan_with_the_tensor(tmp_path: Path, capsys) -> None:
    make_scaffold(tmp_path / "ok.pt", **SMALL)
    state = torch.load(tmp_path / "ok.pt", weights_only=True)
    torch.save({k: v.double() for k, v in state.items()}, tmp_path / "f64.pt")
    out = _verify(tmp_path, tmp_path / "f64.pt", capsys)
    assert "tensors are float64, the layout is float32: re-save with" in out
    state["pool.centroids"][3, 5] = float("nan")
    torch.save(state, tmp_path / "nan.pt")
    out = _verify(tmp_path, tmp_path / "nan.pt", capsys)
    assert "finite" in out and "tensor pool.centroids holds NaN (1 of 512 values)" in out


def test_verify_says_unreadable(tmp_path: Path, capsys, monkeypatch) -> None:
    make_scaffold(tmp_path / "ok.pt", **SMALL)
    real_open = Path.open

    def deny(self, *args, **kwargs):  # root reads anything; a user meets this
        if self.name == "ok.pt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny)
    assert "ok.pt is unreadable (Permission denied)" in _verify(
        tmp_path, tmp_path / "ok.pt", capsys
    )


def _import(args: list[str], capsys) -> tuple[int, str]:
    code = main(["provision", "import", *args])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out + out.err


def test_import_checks_out_first_and_leaves_no_part(tmp_path: Path, capsys, monkeypatch) -> None:
    src = save_source(source_model(False, True, False), tmp_path / "src.pth.tar")
    (tmp_path / "dir").mkdir()
    code, out = _import([str(src), "--out", str(tmp_path / "dir"), *TINY_FLAGS], capsys)
    assert code == 1 and "--out" in out and "is a directory; give a file name" in out
    (tmp_path / "afile").write_text("x")
    code, out = _import([str(src), "--out", str(tmp_path / "afile" / "x.pt"), *TINY_FLAGS], capsys)
    assert code == 1 and "afile is a file, not a folder" in out

    def full(*args, **kwargs):
        Path(args[1]).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    out_pt = tmp_path / "out" / "netvlad.pt"
    code, out = _import([str(src), "--out", str(out_pt), *TINY_FLAGS], capsys)
    assert code == 1 and "cannot write the checkpoint (No space left on device)" in out
    assert not list((tmp_path / "out").glob("*.part")) and not out_pt.exists()


def test_import_refuses_nan_and_names_foreign_sources(tmp_path: Path, capsys) -> None:
    model = source_model(False, True, False)
    with torch.no_grad():
        model.pool.centroids[0, 0] = float("nan")
    src = save_source(model, tmp_path / "nan.pth.tar")
    code, out = _import([str(src), "--out", str(tmp_path / "o.pt"), *TINY_FLAGS], capsys)
    assert code == 1 and "non-finite values in the source (pool.centroids: 1 NaN/Inf" in out
    assert not (tmp_path / "o.pt").exists()
    code, out = _import(
        [str(_onnx_file(tmp_path / "m.onnx")), "--out", str(tmp_path / "o.pt")], capsys
    )
    assert code == 1 and "m.onnx: is an ONNX model" in out
    code, out = _import([str(tmp_path), "--out", str(tmp_path / "o.pt")], capsys)
    assert code == 1 and "is a directory, not a PyTorch checkpoint" in out


def test_import_of_the_matlab_release_records_its_normalisation(tmp_path: Path, capsys) -> None:
    from harness.reference.model_checks import input_normalisation

    write_v5(tmp_path / "release.mat", *release_layers())
    out_pt = tmp_path / "matlab.pt"
    code, out = _import(
        [
            str(tmp_path / "release.mat"),
            "--out",
            str(out_pt),
            "--width",
            "2",
            "--clusters",
            "4",
            "--descriptor-dim",
            "8",
        ],
        capsys,
    )
    assert code == 0, out
    norm = input_normalisation(out_pt)
    assert norm["scale"] == 255.0 and norm["mean_rgb"] == pytest.approx(
        [122.7, 114.9, 101.6], abs=1e-3
    )
    assert "INPUT NORMALISATION" in out_pt.with_suffix(".provenance.md").read_text()


def test_negated_centroids_in_a_pytorch_file_warn(tmp_path: Path, caplog) -> None:
    from harness.reference.models.importer import import_checkpoint

    model = source_model(False, True, False)
    with torch.no_grad():  # trained-like: filters along their centroids, then MATLAB's sign
        model.pool.conv.weight.copy_(model.pool.centroids[:, :, None, None] * 10)
        model.pool.centroids.mul_(-1)
    src = save_source(model, tmp_path / "neg.pth.tar")
    import_checkpoint(src, tmp_path / "o.pt", **TINY)
    assert "centroids look negated" in caplog.text
    assert np.isfinite(torch.load(tmp_path / "o.pt", weights_only=True)["pca.weight"]).all()
