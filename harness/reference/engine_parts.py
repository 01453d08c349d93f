"""What an exported engine of a NetVLAD checkpoint holds, and what runs from the checkpoint.

An engine (OpenVINO IR, ONNX) holds the encoder and the NetVLAD pool, up to the unit VLAD
vector; the PCA and the final L2 normalisation run in torch fp32 from the checkpoint the run
has loaded anyway. The PCA is nine tenths of the model (4096 x 32768, 512 MiB in fp32) and the
same in every engine of a checkpoint: kept in each, it made every engine ~550 MB, and
OpenVINO's compiled blob as much again.
"""

from __future__ import annotations

import numpy as np
import torch


class Body(torch.nn.Module):
    """What an engine runs: the encoder and the NetVLAD pool, up to the unit VLAD vector."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.model.encoder(x)
        return self.model.pool(features)


def head(model: torch.nn.Module, vlad: np.ndarray) -> np.ndarray:
    """The rest of the forward, fp32 in torch: PCA, then the final L2 normalisation."""
    pca = model.pca
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(vlad, dtype=np.float32))
        out = torch.nn.functional.linear(x, pca.weight.float(), pca.bias.float())
        return torch.nn.functional.normalize(out, dim=1).numpy()
