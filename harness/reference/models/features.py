"""Feature maps of a fixed encoder, batched and cached on disk: training's fast path.

Only the NetVLAD pool and the PCA are trained, so the encoder's output maps of every image are
computed once and reused by clustering, mining and every epoch.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from harness.atomic import atomic_path
from harness.reference.vpr.netvlad import NetVladVgg16, init_like_torchvision
from harness.reference.vpr.preprocess import to_input

log = logging.getLogger(__name__)


def random_model(width: int, clusters: int, descriptor_dim: int, seed: int) -> NetVladVgg16:
    """The model with torchvision-style random encoder weights from `seed` (nothing pretrained)."""
    torch.manual_seed(seed)
    model = NetVladVgg16(width, clusters, descriptor_dim)
    init_like_torchvision(model)
    return model.eval()


def training_precision() -> str:
    """bf16 where the CPU has native bf16 (about 2x fp32 here, maps within ~1 %), else fp32;
    on a CUDA GPU fp32. Only training encodes this way: evaluation and the stack run fp32."""
    if torch.cuda.is_available():
        return "fp32"
    from harness.reference.cpu import bf16_isa

    return "bf16" if bf16_isa() else "fp32"


@torch.no_grad()
def conv_features(
    encoder: nn.Module, images: np.ndarray, input_px: int, batch: int = 16, precision: str = "fp32"
) -> torch.Tensor:
    """Encoder output for each image, (N, D, h, w) float32 on the CPU.

    Encoding is most of a training run's time, so it runs on a CUDA GPU when torch sees one.
    """
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # A copy in channels-last, the fast convolution layout (about 1.25x on 2 CPU cores, the
    # same maps to float rounding); the caller's encoder keeps its layout and its bytes.
    fast = torch.channels_last
    encoder = copy.deepcopy(encoder).to(device=device, memory_format=fast).eval()
    bf16 = precision == "bf16"
    out = []
    for i in range(0, len(images), batch):
        x = to_input(images[i : i + batch], input_px).to(device).contiguous(memory_format=fast)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out.append(encoder(x).float().cpu().contiguous())
    return torch.cat(out)


def encoder_digest(encoder: nn.Module) -> str:
    h = hashlib.sha256()
    for key, value in encoder.state_dict().items():
        h.update(key.encode())
        h.update(value.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def cached_conv_features(
    encoder: nn.Module,
    images: np.ndarray,
    input_px: int,
    cache_dir: Path | None,
    encoder_id: str,
    precision: str = "fp32",
) -> torch.Tensor:
    """`conv_features`, stored under cache_dir by (encoder, images, size, precision) digest
    (float16)."""
    if cache_dir is None:
        return conv_features(encoder, images, input_px, precision=precision)
    tag = "" if precision == "fp32" else f":{precision}"  # fp32 keeps the keys it always had
    h = hashlib.sha256(f"{encoder_id}:{input_px}:{images.shape}{tag}".encode())
    h.update(np.ascontiguousarray(images).data)
    path = Path(cache_dir) / "conv" / f"{h.hexdigest()[:24]}.npy"
    if path.exists():
        return torch.from_numpy(np.load(path).astype(np.float32))
    feats = conv_features(encoder, images, input_px, precision=precision)
    with atomic_path(path) as tmp:
        np.save(tmp, feats.numpy().astype(np.float16))
    log.info("cached conv features %s %s", tuple(feats.shape), path)
    return feats
