"""The scaffold checkpoint: the upstream layout with honestly labelled untrained parts.

Deterministic (seeded; torch.save of the same tensors gives the same bytes), with a
provenance page beside it stating, per layer group, source, licence and whether it is trained
for VPR. An encoder comes from a torchvision VGG16 weight file when the user has one.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from harness.errors import ProvisioningError
from harness.reference.model_checks import load_weights
from harness.reference.models.checkpoint_io import layer_table, save_state, write_provenance
from harness.reference.vpr.netvlad import NetVladVgg16, init_like_torchvision


def encoder_from_torchvision(path: Path) -> dict[str, torch.Tensor]:
    """`features.N.*` of a torchvision VGG16 file -> `encoder.N.*` (classifier dropped)."""
    state = load_weights(path)
    enc = {
        f"encoder.{k[len('features.') :]}": v
        for k, v in state.items()
        if k.startswith("features.") and int(k.split(".")[1]) <= 28
    }
    if len(enc) != 26:
        raise ProvisioningError(
            f"{path}: expected 26 VGG16 `features.N` conv tensors up to conv5_3, found {len(enc)}"
        )
    return enc


def make_scaffold(
    out: Path,
    *,
    width: int = 64,
    clusters: int = 64,
    descriptor_dim: int = 4096,
    seed: int = 0,
    vgg16_weights: Path | None = None,
) -> str:
    """Write the scaffold and its provenance page; returns the checkpoint's sha256."""
    torch.manual_seed(seed)
    model = NetVladVgg16(width, clusters, descriptor_dim)
    init_like_torchvision(model)
    # conv5 descriptors are L2-normalised, so centroids are random unit vectors and the PCA
    # has no bias: the module default (centroids uniform in [0, 1)) makes every image's
    # VLAD vector the same (all residuals point at -c_k), a collapse, not a scaffold.
    with torch.no_grad():
        model.pool.centroids.copy_(F.normalize(torch.randn(clusters, 8 * width), dim=1))
        model.pca.bias.zero_()
    state = model.state_dict()
    encoder_source = f"random (Kaiming-normal fan_out, seed {seed}): NOT trained"
    if vgg16_weights is not None:
        state.update(encoder_from_torchvision(vgg16_weights))
        encoder_source = f"torchvision VGG16 file {vgg16_weights.name} (ImageNet, BSD-3-Clause)"
    model.load_state_dict(state, strict=True)
    sha = save_state(state, out)
    groups = {
        "encoder.0 .. encoder.28 (VGG16 conv1_1..conv5_3)": (encoder_source, False),
        "pool.conv.weight, pool.conv.bias": (f"random (PyTorch default), seed {seed}", False),
        "pool.centroids": (f"random unit vectors, seed {seed}", False),
        "pca.weight, pca.bias": (f"random weight (PyTorch default), zero bias, seed {seed}", False),
    }
    lines = [
        f"# {out.name}: NetVLAD-VGG16 scaffold",
        "",
        "A pipeline-integration scaffold, not a retrieval checkpoint: retrieval with it is "
        "expected to be near chance.",
        "",
        f"sha256 `{sha}`; {len(state)} keys; width {width}, clusters {clusters}, "
        f"descriptor {descriptor_dim}.",
        "",
        *layer_table(groups),
        "",
        "Licence: project-owned random weights; a torchvision encoder keeps BSD-3-Clause.",
        "Reproduce: `harness provision scaffold` (same bytes on every run).",
    ]
    write_provenance(out, lines, {"sha256": sha}, groups)
    return sha
