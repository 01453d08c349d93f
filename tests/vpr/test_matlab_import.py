"""MATLAB-origin NetVLAD: a .mat in the release's MatConvNet layout (v5 via scipy, v7.3 via
h5py) converts to our layout, and our model with the recorded normalisation gives the same
descriptor as an independent numpy forward written in the release's own conventions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from harness.errors import ProvisioningError
from harness.reference.models.matlab import normalisation, read_mat, to_state
from harness.reference.vpr.netvlad import NetVladVgg16, expected_layout

WIDTH, K, OUT = 2, 4, 8
PLAN = (1, 1, "M", 2, 2, "M", 4, 4, 4, "M", 8, 8, 8, "M", 8, 8, 8)


def release_layers(seed: int = 0):
    """(type, weights) per MatConvNet layer, as the release orders them, random values."""
    rng = np.random.default_rng(seed)
    layers, cin = [], 3
    convs = [s for s in PLAN if s != "M"]
    for i, step in enumerate(PLAN):
        if step == "M":
            layers.append(("pool", []))
            continue
        cout = step * WIDTH
        w = rng.normal(0, np.sqrt(2 / (9 * cin)), (3, 3, cin, cout)).astype(np.float32)
        layers.append(("conv", [w, rng.normal(0, 0.05, cout).astype(np.float32)]))
        if len(layers) and i != len(PLAN) - 1:
            layers.append(("relu", []))
        cin = cout
    assert sum(t == "conv" for t, _ in layers) == len(convs)
    d = cin
    layers.append(("normalize", []))  # preL2
    assign = rng.normal(0, 1, (1, 1, d, K)).astype(np.float32)
    centres = rng.normal(0, 0.3, (d, K)).astype(np.float32)  # stored negated, as released
    layers.append(("netvlad", [assign, centres]))
    layers.append(("normalize", []))
    white = rng.normal(0, 0.1, (1, 1, d * K, OUT)).astype(np.float32)
    layers.append(("conv", [white, rng.normal(0, 0.01, OUT).astype(np.float32)]))
    layers.append(("normalize", []))
    average = np.array([122.7, 114.9, 101.6], np.float32).reshape(1, 1, 3)
    return layers, average


def write_v5(path: Path, layers, average) -> None:
    import scipy.io

    cells = np.empty(len(layers), dtype=object)
    for i, (kind, weights) in enumerate(layers):
        wcell = np.empty(len(weights), dtype=object)
        for j, w in enumerate(weights):
            wcell[j] = w
        cells[i] = {"type": kind, "name": f"{kind}{i}", "weights": wcell}
    net = {"layers": cells, "meta": {"normalization": {"averageImage": average}}}
    scipy.io.savemat(path, {"net": net})


def write_v73(path: Path, layers, average) -> None:
    """MATLAB's v7.3 layout: HDF5 after a 512-byte header, cells as object references into
    #refs#, arrays stored with their dimensions reversed, MATLAB_class on every value."""
    import h5py

    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        count = [0]

        def put(value, cls):
            count[0] += 1
            data = np.asarray(value)
            ds = refs.create_dataset(f"r{count[0]}", data=data.T)
            ds.attrs["MATLAB_class"] = np.bytes_(cls)
            return ds.ref

        def text(s):
            return put(np.array([ord(c) for c in s], np.uint16).reshape(1, -1), "char")

        layer_refs = []
        for i, (kind, weights) in enumerate(layers):
            g = refs.create_group(f"layer{i}")
            g.attrs["MATLAB_class"] = np.bytes_("struct")
            t = g.create_dataset("type", data=np.array([ord(c) for c in kind], np.uint16)[:, None])
            t.attrs["MATLAB_class"] = np.bytes_("char")
            wrefs = np.array([[put(w, "single") for w in weights]], dtype=h5py.ref_dtype)
            ds = g.create_dataset(
                "weights", data=wrefs.T if weights else np.zeros((0, 1), h5py.ref_dtype)
            )
            ds.attrs["MATLAB_class"] = np.bytes_("cell")
            layer_refs.append(g.ref)
        net = f.create_group("net")
        cells = net.create_dataset("layers", data=np.array([layer_refs], dtype=h5py.ref_dtype))
        cells.attrs["MATLAB_class"] = np.bytes_("cell")
        norm = net.create_group("meta").create_group("normalization")
        avg = norm.create_dataset("averageImage", data=np.asarray(average).T)
        avg.attrs["MATLAB_class"] = np.bytes_("single")
    with path.open("r+b") as f:  # MATLAB's text header in the user block
        f.write(b"MATLAB 7.3 MAT-file, written for a test".ljust(116, b" "))


def matlab_forward(layers, average, rgb: np.ndarray) -> np.ndarray:
    """The release's forward in numpy, from its own conventions: HxWxC arrays, S x S x IN x OUT
    filters (cross-correlation, pad 1), 2x2 max-pool, preL2, assignment without bias,
    residual x + c_stored, intra-norm per cluster, dimension-major flattening, whitening, L2."""
    x = rgb.astype(np.float64) - average.reshape(1, 1, 3)
    for kind, weights in layers:
        if kind == "conv" and weights[0].shape[:2] == (3, 3):
            w, b = weights[0].astype(np.float64), weights[1].astype(np.float64)
            h, wd, _ = x.shape
            pad = np.pad(x, ((1, 1), (1, 1), (0, 0)))
            y = np.zeros((h, wd, w.shape[3]))
            for dy in range(3):
                for dx in range(3):
                    y += pad[dy : dy + h, dx : dx + wd] @ w[dy, dx]
            x = y + b
        elif kind == "relu":
            x = np.maximum(x, 0)
        elif kind == "pool":
            h, wd, c = x.shape
            x = x[: h // 2 * 2, : wd // 2 * 2].reshape(h // 2, 2, wd // 2, 2, c).max(axis=(1, 3))
        elif kind == "netvlad":
            feats = x.reshape(-1, x.shape[2])
            feats = feats / np.linalg.norm(feats, axis=1, keepdims=True)
            assign, centres = np.squeeze(weights[0]).astype(np.float64), weights[1]
            score = feats @ assign
            a = np.exp(score - score.max(axis=1, keepdims=True))
            a /= a.sum(axis=1, keepdims=True)  # (N, K)
            v = np.zeros(centres.shape)  # (D, K)
            for k in range(centres.shape[1]):
                v[:, k] = (a[:, k : k + 1] * (feats + centres[:, k])).sum(axis=0)
            v /= np.linalg.norm(v, axis=0, keepdims=True)
            v = v.reshape(-1)  # row-major (D, K): index d * K + k
            x = v / np.linalg.norm(v)
        elif kind == "conv":  # the 1x1 whitening
            y = np.squeeze(weights[0]).T.astype(np.float64) @ x + weights[1]
            return y / np.linalg.norm(y)
    raise AssertionError("no whitening layer")


@pytest.mark.parametrize("version", ["v5", "v73"])
def test_release_converts_and_matches_the_numpy_forward(tmp_path, version):
    layers, average = release_layers()
    path = tmp_path / f"net_{version}.mat"
    (write_v5 if version == "v5" else write_v73)(path, layers, average)
    net = read_mat(path)
    model = NetVladVgg16(WIDTH, K, OUT)
    model.load_state_dict(to_state(net, expected_layout(WIDTH, K, OUT)), strict=True)
    norm = normalisation(net)
    assert norm["mean_rgb"] == pytest.approx([122.7, 114.9, 101.6], abs=1e-3)
    rgb = np.random.default_rng(5).integers(0, 256, (64, 48, 3)).astype(np.float64)
    x = (rgb / 255.0 * norm["scale"] - np.array(norm["mean_rgb"])) / np.array(norm["std_rgb"])
    with torch.no_grad():
        ours = model(torch.from_numpy(x.transpose(2, 0, 1)[None]).float())["vlad_descriptor"]
    want = matlab_forward(layers, average, rgb)
    assert np.abs(ours.numpy()[0] - want).max() < 1e-4
    # the three conventions matter: undoing any one of them moves the descriptor
    state = to_state(net, expected_layout(WIDTH, K, OUT))
    state["pool.centroids"] = -state["pool.centroids"]
    model.load_state_dict(state)
    with torch.no_grad():
        wrong = model(torch.from_numpy(x.transpose(2, 0, 1)[None]).float())["vlad_descriptor"]
    assert np.abs(wrong.numpy()[0] - want).max() > 1e-2


def test_a_mat_that_is_not_the_release_is_refused(tmp_path):
    import scipy.io

    scipy.io.savemat(tmp_path / "other.mat", {"weights": np.zeros(3)})
    with pytest.raises(
        ProvisioningError,
        match=r"other.mat: a .mat file, but it holds no `net.layers` \(variables: weights\)",
    ):
        read_mat(tmp_path / "other.mat")
    layers, average = release_layers()
    write_v5(tmp_path / "net.mat", layers, average)
    with pytest.raises(ProvisioningError, match=r"pass the --width/--clusters/--descriptor-dim"):
        to_state(read_mat(tmp_path / "net.mat"), expected_layout(4, K, OUT))


def test_provisioning_hands_the_recorded_normalisation_to_the_runtime(tmp_path):
    from types import SimpleNamespace

    from harness.reference.models.matlab import import_matlab
    from harness.reference.operator_config import Backbone
    from harness.reference.pipeline import ReferencePipeline
    from harness.reference.runtimes import Runtime
    from harness.reference.vpr.queries import NetVladStrategy

    layers, average = release_layers()
    write_v5(tmp_path / "release.mat", layers, average)
    out = tmp_path / "m.pt"
    import_matlab(tmp_path / "release.mat", out, width=WIDTH, clusters=K, descriptor_dim=OUT)
    backbone = Backbone(
        name="m",
        weights_path=out,
        runtime="pytorch-fp32",
        width=WIDTH,
        clusters=K,
        descriptor_dim=OUT,
    )
    events = []
    config = SimpleNamespace(
        c10_provisioning=SimpleNamespace(backbones=[backbone]), backbone=lambda: backbone
    )
    ctx = SimpleNamespace(
        settings=SimpleNamespace(config=config, config_path=tmp_path / "op.yaml"),
        artifact=lambda *args, **kw: None,
        loaded=SimpleNamespace(resolve=lambda p: p),
        scenario=SimpleNamespace(vpr=SimpleNamespace(strategy="netvlad")),
        emit=lambda stage, kind, **f: events.append((stage, kind, f)),
    )
    [engine] = ReferencePipeline().provision(ctx)
    assert engine.normalisation["scale"] == 255.0
    assert ("provisioning", "normalisation") in {(s, k) for s, k, _ in events}
    seen = []
    runtime = Runtime("pytorch-fp32", "float32", lambda x: seen.append(x) or np.zeros((1, OUT)))
    rgb = np.random.default_rng(2).integers(0, 256, (1, 32, 32, 3)).astype(np.uint8)
    NetVladStrategy(runtime, 32, np.empty(0), engine.normalisation).embed(rgb)
    want = rgb[0].astype(np.float64) - np.array([122.7, 114.9, 101.6])
    assert np.abs(seen[0][0].numpy().transpose(1, 2, 0) - want).max() < 1e-3
