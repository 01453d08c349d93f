"""Query and tile preprocessing for the network: uint8 RGB images to its normalised input."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_input(images: np.ndarray, input_px: int, normalisation: dict | None = None) -> torch.Tensor:
    """uint8 (N, H, W, 3) RGB -> normalised float (N, 3, input_px, input_px).

    Default: 0-1 RGB with ImageNet mean/std (the PyTorch family). A checkpoint's recorded
    `normalisation` ({scale, mean_rgb, std_rgb}, e.g. the MATLAB release's 0-255 minus its
    average image) replaces it: (x * scale - mean) / std."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    if x.shape[-1] != input_px or x.shape[-2] != input_px:
        x = F.interpolate(x, size=(input_px, input_px), mode="bilinear", antialias=True)
    scale, mean, std = 1.0, IMAGENET_MEAN, IMAGENET_STD
    if normalisation is not None:
        scale = float(normalisation["scale"])
        mean, std = tuple(normalisation["mean_rgb"]), tuple(normalisation["std_rgb"])
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x * scale - mean_t) / std_t
