"""Structured pruning to a narrower width: exact where the cut filters carry nothing."""

from __future__ import annotations

import pytest
import torch

from harness.reference.models import train as T
from harness.reference.models.prune import prune_to_width
from harness.reference.vpr.netvlad import (
    VGG16_CONV_INDICES,
    NetVladVgg16,
    expected_layout,
    init_like_torchvision,
)


def _model(seed: int = 0) -> NetVladVgg16:
    torch.manual_seed(seed)
    model = NetVladVgg16(width=4, clusters=4, descriptor_dim=16)
    init_like_torchvision(model)
    with torch.no_grad():
        for index in VGG16_CONV_INDICES:
            model.encoder[index].bias.uniform_(0.0, 0.1)
    return model.eval()


def test_cutting_dead_filters_changes_no_descriptor() -> None:
    model = _model()
    with torch.no_grad():
        for index in VGG16_CONV_INDICES:  # a quarter of every conv's filters output zeros
            conv = model.encoder[index]
            dead = torch.randperm(conv.out_channels)[: conv.out_channels // 4]
            conv.weight[dead] = 0.0
            conv.bias[dead] = 0.0
        model.pool.centroids[:, dead] = 0.0  # the last conv's dead channels
    pruned = prune_to_width(model, 3)
    assert {k: tuple(v.shape) for k, v in pruned.state_dict().items()} == expected_layout(3, 4, 16)
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        before, after = model(x)["vlad_descriptor"], pruned(x)["vlad_descriptor"]
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5)


def test_the_strongest_filters_are_kept_and_identity_kernels_stay_identity() -> None:
    model = _model(1)
    T.identity_conv5(model.encoder)
    with torch.no_grad():
        model.encoder[0].weight[2] *= 100.0  # conv1_1's filter 2 is the strongest by far
        model.encoder[0].weight[0] *= 0.01  # filter 0 the weakest
    pruned = prune_to_width(model, 2)
    kept = pruned.encoder[0].weight
    assert any(torch.equal(kept[i], model.encoder[0].weight[2]) for i in range(len(kept)))
    assert not any(torch.equal(kept[i], model.encoder[0].weight[0]) for i in range(len(kept)))
    for index in VGG16_CONV_INDICES[-3:]:
        conv = pruned.encoder[index]
        assert torch.equal(conv.weight[:, :, 1, 1], torch.eye(conv.out_channels))


def test_a_width_outside_the_model_is_refused() -> None:
    with pytest.raises(ValueError, match=r"prune width must be in 1\.\.4"):
        prune_to_width(_model(), 5)
