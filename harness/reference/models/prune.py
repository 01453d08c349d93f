"""Structured pruning: a narrower NetVLAD-VGG16 made of the original's strongest conv filters.

Every conv keeps the same share of its filters, so the result is a member of the `width`
family (`NetVladVgg16(width=w)`): every runtime runs it unchanged and the conv compute falls
with the square of the width. A filter's strength is the L1 norm of its weights over the
input channels the previous conv kept (for identity kernels that keeps exactly the channels
the layer below kept). The pool's assignment conv and centroids and the PCA's columns keep
the last conv's channels. Nothing is retrained: `provision test --prune-width` shows what
the cut costs in recall beside what it saves in time.
"""

from __future__ import annotations

import torch

from harness.reference.vpr.netvlad import VGG16_CONV_INDICES, NetVladVgg16


def prune_to_width(model: NetVladVgg16, width: int) -> NetVladVgg16:
    """The model cut to `width` (the full model is 64), filters ranked by L1 norm per conv."""
    src = {k: v.detach() for k, v in model.state_dict().items()}
    full = src["encoder.0.weight"].shape[0]
    if not 0 < width <= full:
        raise ValueError(f"prune width must be in 1..{full} (the model's width), got {width}")
    clusters, dim = src["pool.centroids"].shape
    out = NetVladVgg16(width, clusters, src["pca.weight"].shape[0])
    state: dict[str, torch.Tensor] = {}
    keep = torch.arange(3)  # the RGB input
    for index in VGG16_CONV_INDICES:
        weight = src[f"encoder.{index}.weight"][:, keep]
        wanted = out.encoder[index].out_channels
        strength = weight.abs().sum(dim=(1, 2, 3))
        keep_out = strength.argsort(descending=True, stable=True)[:wanted].sort().values
        state[f"encoder.{index}.weight"] = weight[keep_out]
        state[f"encoder.{index}.bias"] = src[f"encoder.{index}.bias"][keep_out]
        keep = keep_out
    state["pool.conv.weight"] = src["pool.conv.weight"][:, keep]
    state["pool.conv.bias"] = src["pool.conv.bias"]
    state["pool.centroids"] = src["pool.centroids"][:, keep]
    pca = src["pca.weight"].reshape(-1, clusters, dim)[:, :, keep]  # columns are k * D + d
    state["pca.weight"] = pca.reshape(len(pca), -1)
    state["pca.bias"] = src["pca.bias"]
    out.load_state_dict({k: v.clone() for k, v in state.items()}, strict=True)
    return out.eval()
