"""MATLAB-origin NetVLAD (the original release: a MatConvNet `net` in a .mat) into our layout.

The release differs from the PyTorch family in three silent ways (docs/training.md): its
cluster centres are stored negated (it adds them: x + c); its VLAD is flattened dimension-major
(d * K + k), so the whitening matrix's columns are reordered to our cluster-major (k * D + d);
its input is 0-255 RGB minus the average image with no std division, which the converted
checkpoint records as its input normalisation for the runtime to apply. Conv filters are
S x S x IN x OUT there (OUT x IN x S x S here); the assignment conv has no bias (zeros here).
v5/v7 files are read with scipy.io, v7.3 (HDF5) files with h5py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import ProvisioningError

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class MatNet:
    """The release's arrays in MATLAB's own shapes and conventions."""

    convs: list[tuple[np.ndarray, np.ndarray]]  # (S, S, IN, OUT) filters, (OUT,) biases
    assign: np.ndarray  # (D, K) soft-assignment weights
    centres: np.ndarray  # (D, K), stored negated
    whiten_w: np.ndarray  # (D * K, OUT), columns of v in d * K + k order
    whiten_b: np.ndarray  # (OUT,)
    average_rgb: np.ndarray  # (3,) in 0-255 units
    layer_types: list[str]


def _fail(path: Path, what: str) -> ProvisioningError:
    return ProvisioningError(
        f"{path}: a .mat file, but {what}; give the NetVLAD release's network file "
        "(e.g. vd16_pitts30k_conv5_3_vlad_preL2_intra_white.mat)"
    )


def _layers_scipy(path: Path) -> tuple[list[tuple[str, list[np.ndarray]]], np.ndarray]:
    import scipy.io

    try:
        mat = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True)
    except (ValueError, TypeError, OSError, NotImplementedError) as exc:
        raise ProvisioningError(
            f"{path}: scipy cannot read this .mat ({exc}); re-save it"
        ) from None
    net = mat.get("net")
    if net is None or not hasattr(net, "layers"):
        keys = ", ".join(k for k in mat if not k.startswith("__")) or "none"
        raise _fail(path, f"it holds no `net.layers` (variables: {keys})")
    layers = []
    for layer in np.atleast_1d(net.layers):
        weights = getattr(layer, "weights", [])
        weights = [np.asarray(w) for w in np.atleast_1d(weights)] if np.size(weights) else []
        layers.append((str(getattr(layer, "type", "")), weights))
    avg = net.meta.normalization.averageImage if hasattr(net, "meta") else None
    return layers, np.asarray(avg, dtype=np.float64) if avg is not None else None


def _h5(f, obj):
    """A MATLAB v7.3 value: cells (references) as lists, char as str, arrays in MATLAB order."""
    import h5py

    if isinstance(obj, h5py.Group):
        return {k: _h5(f, obj[k]) for k in obj if not k.startswith("#")}
    cls = obj.attrs.get("MATLAB_class", b"").decode()
    if obj.dtype == h5py.ref_dtype:
        return [_h5(f, f[r]) for r in np.asarray(obj).T.reshape(-1)]
    data = np.asarray(obj)
    if cls == "char":
        return "".join(map(chr, data.reshape(-1)))
    return data.T  # HDF5 holds MATLAB's column-major arrays with their dimensions reversed


def _layers_h5(path: Path) -> tuple[list[tuple[str, list[np.ndarray]]], np.ndarray]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "net" not in f or "layers" not in f["net"]:
                raise _fail(path, f"it holds no `net.layers` (variables: {', '.join(f)})")
            cells = _h5(f, f["net"]["layers"])
            layers = [(str(c.get("type", "")), list(c.get("weights", []))) for c in cells]
            norm = f["net"].get("meta", {}).get("normalization") if "meta" in f["net"] else None
            avg = _h5(f, norm["averageImage"]) if norm is not None else None
    except OSError as exc:
        raise ProvisioningError(f"{path}: h5py cannot read this v7.3 .mat ({exc})") from None
    return layers, None if avg is None else np.asarray(avg, dtype=np.float64)


def read_mat(path: Path) -> MatNet:
    """The release's conv stack, NetVLAD layer, whitening and average image."""
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(520)
    v73 = head[512:520] == HDF5_MAGIC or head[:8] == HDF5_MAGIC
    layers, avg = _layers_h5(path) if v73 else _layers_scipy(path)
    convs = [
        (w[0].astype(np.float32), w[1].astype(np.float32).reshape(-1))
        for _, w in layers
        if len(w) == 2 and w[0].ndim == 4 and w[0].shape[:2] == (3, 3)
    ]
    vlad = next(
        (i for i, (_, w) in enumerate(layers) if len(w) == 2 and np.squeeze(w[1]).ndim == 2), None
    )
    if len(convs) != 13 or vlad is None:
        raise _fail(
            path,
            f"it has {len(convs)} 3x3 conv layers (want 13, VGG16 to conv5_3) "
            f"and {'a' if vlad is not None else 'no'} NetVLAD layer",
        )
    assign, centres = (np.squeeze(w).astype(np.float32) for w in layers[vlad][1])
    white = next((w for _, w in layers[vlad + 1 :] if len(w) == 2 and w[0].ndim >= 2), None)
    if white is None:
        raise _fail(path, "it has no whitening layer after NetVLAD (a *_white network is needed)")
    if avg is None:
        raise _fail(path, "it has no net.meta.normalization.averageImage")
    average_rgb = avg.reshape(-1, 3).mean(axis=0) if avg.size >= 3 else np.full(3, float(avg))
    w_white = np.squeeze(white[0]).astype(np.float32)
    return MatNet(
        convs=convs,
        assign=assign,
        centres=centres,
        whiten_w=w_white,
        whiten_b=np.asarray(white[1], np.float32).reshape(-1),
        average_rgb=average_rgb,
        layer_types=[t for t, _ in layers],
    )


def to_state(net: MatNet, want: dict[str, tuple[int, ...]]) -> dict:
    """Our state_dict (torch tensors, float32); shapes are checked against `want`."""
    import torch

    from harness.reference.vpr.netvlad import VGG16_CONV_INDICES

    state = {}
    for index, (w, b) in zip(VGG16_CONV_INDICES, net.convs, strict=True):
        state[f"encoder.{index}.weight"] = torch.from_numpy(
            np.ascontiguousarray(w.transpose(3, 2, 0, 1))
        )
        state[f"encoder.{index}.bias"] = torch.from_numpy(b)
    d, k = net.assign.shape
    state["pool.conv.weight"] = torch.from_numpy(np.ascontiguousarray(net.assign.T)).reshape(
        k, d, 1, 1
    )
    state["pool.conv.bias"] = torch.zeros(k)
    state["pool.centroids"] = torch.from_numpy(np.ascontiguousarray(-net.centres.T))
    w = net.whiten_w  # (D*K, OUT), row index d * K + k
    out = w.shape[1]
    reordered = w.T.reshape(out, d, k).transpose(0, 2, 1).reshape(out, k * d)
    state["pca.weight"] = torch.from_numpy(np.ascontiguousarray(reordered))
    state["pca.bias"] = torch.from_numpy(net.whiten_b)
    bad = [
        f"{key} {list(t.shape)} vs {list(want[key])}"
        for key, t in state.items()
        if tuple(t.shape) != want.get(key)
    ]
    if bad or set(state) != set(want):
        raise ProvisioningError(
            f"the .mat network does not fit the layout asked for: {'; '.join(bad[:4])}; "
            "pass the --width/--clusters/--descriptor-dim of the network"
        )
    return {key: state[key] for key in want}


def normalisation(net: MatNet) -> dict:
    """The input normalisation the converted checkpoint needs, for provenance and the runtime."""
    return {
        "convention": "matlab",
        "scale": 255.0,
        "mean_rgb": [float(x) for x in net.average_rgb],
        "std_rgb": [1.0, 1.0, 1.0],
        "description": "0-255 RGB minus the release's average image (per channel), no std",
    }


def import_matlab(
    source: Path, out: Path, *, width: int = 64, clusters: int = 64, descriptor_dim: int = 4096
):
    """Convert the release's .mat into `out` with its provenance page, which records the input
    normalisation the runtime must apply; verified as provisioning will verify it."""
    from harness.digest import file_digest
    from harness.reference.model_checks import non_finite
    from harness.reference.models.checkpoint_io import layer_table, save_state, write_provenance
    from harness.reference.models.imported import ImportResult, Translation, check_imported
    from harness.reference.models.source_checkpoint import SourceCheckpoint
    from harness.reference.vpr.netvlad import expected_layout

    net = read_mat(source)
    state = to_state(net, expected_layout(width, clusters, descriptor_dim))
    bad = non_finite(state)
    if bad:
        raise ProvisioningError(
            f"{source}: non-finite values in the release ({'; '.join(bad[:4])}); re-download it"
        )
    sha = save_state(state, out)
    norm = normalisation(net)
    src = SourceCheckpoint(source, file_digest(source), {}, {}, {"format": "MATLAB .mat"})
    done = Translation(
        state={},
        encoder=f"the release ({source.name}): filters S x S x IN x OUT -> OUT x IN x S x S",
        bias="zeros: the release's soft-assignment has no bias",
        pca="the release's whitening, columns reordered from d * K + k to k * D + d",
        mapping=[],
        choices={"assignment_bias": "zeros", "pca": "source", "encoder": "source"},
    )
    groups = {
        "encoder.0 .. encoder.28 (VGG16 conv1_1..conv5_3)": (f"the release ({source.name})", True),
        "pool.conv.weight, pool.centroids": ("the release; centres negated back", True),
        "pool.conv.bias": ("zeros (the release has none)", True),
        "pca.weight, pca.bias": ("the release's whitening, columns reordered", True),
    }
    lines = [
        f"# {out.name}: NetVLAD-VGG16 imported from the MATLAB release {source.name}",
        "",
        f"- sha256 `{sha}`; source sha256 `{src.sha256}`.",
        "- centres: stored negated in the release, negated back; assignment bias: none (zeros).",
        "- whitening: the release flattens VLAD dimension-major (d * K + k); columns reordered "
        "to cluster-major (k * D + d).",
        f"- INPUT NORMALISATION (applied by the runtime): {norm['description']}; mean RGB "
        f"{[round(x, 3) for x in norm['mean_rgb']]} in 0-255 units. Feeding this checkpoint "
        "ImageNet-normalised 0-1 input degrades recall without any error.",
        "",
        *layer_table(groups),
    ]
    doc = {
        "sha256": sha,
        "source": {"path": source.name, "sha256": src.sha256},
        "input_normalisation": norm,
        "kind": "import-matlab",
    }
    write_provenance(out, lines, doc, groups)
    check_imported(out, width, clusters, descriptor_dim)
    return ImportResult(out, sha, src, (width, clusters, descriptor_dim), done)
