"""NetVLAD-VGG16 in the upstream checkpoint layout (31 keys; torchvision's VGG16 indices).

The full-size model has 149,002,112 parameters; ``width`` scales the VGG channel widths so
tests can build the same layout with few channels (width 8 -> conv5 has 64 channels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness.reference.operator_config import FULL_CLUSTERS, FULL_DESCRIPTOR_DIM, FULL_WIDTH

# VGG16 `features[:-2]`: the 13 convs up to conv5_3, without the last ReLU and MaxPool.
# Entries are output-channel multiples of `width` ("M" = 2x2 max-pool). Sequential indices
# follow torchvision, so its weight files load key for key.
_VGG16_PLAN = (1, 1, "M", 2, 2, "M", 4, 4, 4, "M", 8, 8, 8, "M", 8, 8, 8)
VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)

FULL_PARAMETERS = 149_002_112


def vgg16_encoder(width: int = FULL_WIDTH) -> nn.Sequential:
    """conv1_1 .. conv5_3 (pre-ReLU), stride 16, `8 * width` output channels."""
    layers: list[nn.Module] = []
    channels = 3
    for i, step in enumerate(_VGG16_PLAN):
        if step == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        out = step * width
        layers.append(nn.Conv2d(channels, out, kernel_size=3, padding=1))
        if i != len(_VGG16_PLAN) - 1:
            layers.append(nn.ReLU(inplace=True))
        channels = out
    return nn.Sequential(*layers)


class NetVladPool(nn.Module):
    """NetVLAD aggregation: soft-assign, residual sums, intra- then global L2 normalisation."""

    def __init__(self, clusters: int, dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, clusters, kernel_size=1, bias=True)
        self.centroids = nn.Parameter(torch.rand(clusters, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.normalize(x, dim=1)  # per-location descriptor normalisation (paper, Sec. 3)
        assign = F.softmax(self.conv(x).flatten(2), dim=1)  # (N, K, HW)
        feats = x.flatten(2)  # (N, D, HW)
        # sum_i a_k(x_i) (x_i - c_k) = (A X^T)_k - (sum_i a_k(x_i)) c_k, all clusters at once
        vlad = torch.bmm(assign, feats.transpose(1, 2))
        vlad = vlad - assign.sum(dim=2, keepdim=True) * self.centroids.unsqueeze(0)
        vlad = F.normalize(vlad, dim=2)  # intra-normalisation
        return F.normalize(
            vlad.flatten(1), dim=1
        )  # cluster-major (k * D + d), 32768-d at full size


class NetVladVgg16(nn.Module):
    """VGG16 encoder -> NetVLAD -> PCA; forward returns {'vlad_descriptor': (N, out) unit rows}."""

    def __init__(
        self,
        width: int = FULL_WIDTH,
        clusters: int = FULL_CLUSTERS,
        descriptor_dim: int = FULL_DESCRIPTOR_DIM,
    ) -> None:
        super().__init__()
        dim = 8 * width
        self.encoder = vgg16_encoder(width)
        self.pool = NetVladPool(clusters, dim)
        self.pca = nn.Linear(clusters * dim, descriptor_dim)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        vlad = self.pool(self.encoder(x))
        return {"vlad_descriptor": F.normalize(self.pca(vlad), dim=1)}


def init_like_torchvision(model: NetVladVgg16) -> None:
    """Kaiming-normal (fan_out, ReLU) convs with zero bias, as torchvision initialises VGG.

    PyTorch's default Conv2d init shrinks activations through 13 stacked convs until conv5_3
    is nearly constant and every descriptor collapses to the same vector.
    """
    for module in model.encoder.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)


def expected_layout(
    width: int = FULL_WIDTH,
    clusters: int = FULL_CLUSTERS,
    descriptor_dim: int = FULL_DESCRIPTOR_DIM,
) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the state_dict this architecture loads strictly (no memory allocated)."""
    with torch.device("meta"):
        model = NetVladVgg16(width, clusters, descriptor_dim)
    return {key: tuple(t.shape) for key, t in model.state_dict().items()}
