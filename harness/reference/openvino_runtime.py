"""OpenVINO on the CPU: the PyTorch model converted to IR, fp32 or NNCF post-training int8.

The engine holds the encoder and the NetVLAD pool; the PCA and the final normalisation run in
torch fp32 from the checkpoint the run has loaded anyway (`_head`). The PCA is nine tenths of
the model (4096 x 32768, 512 MiB in fp32) and is the same for every engine of a checkpoint:
kept in each engine, it made every engine ~550 MB and its compiled blob as much again.

Int8 is calibrated on the scenario's own corpus tiles, preprocessed exactly as at inference,
with the NetVLAD pool kept in fp32 (quantising the soft-assignment and the normalisations
turned the descriptors to noise: cosine to fp32 0.07-0.15; with them in fp32, 0.96-0.98). The
IR is cached on disk by (checkpoint, input size, calibration set, recipe) with a parity
sidecar (cosine to the eager fp32 forward on held tiles, measured once when it is built);
compiled blobs go beside it, one folder per engine and OpenVINO version. Building an engine
removes the same engine of an older recipe; the cache's bound evicts the least used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from harness import cache
from harness.reference import extra
from harness.reference.cpu import int8_isa

log = logging.getLogger(__name__)

CALIBRATION_TILES = 16  # NNCF statistics: each is one uncompiled forward (seconds at 480 px)
PARITY_TILES = 8  # tiles held out of calibration for the cosine to fp32
PARITY_MIN_COSINE = 0.9  # below this the int8 engine is a provisioning failure
# Descriptor lengths within this of fp32's (the vpr-contract's unit-norm tolerance): cosine
# cannot see lengths, and 3-7 % length errors once swamped the scaffold's 0.4 % similarity
# spread (recall@1 0.40 -> 0.03) while its cosine read 1.000.
PARITY_MAX_NORM_ERROR = 0.01
# NetVLAD aggregation stays fp32 (the PCA and the final L2 normalisation are not in the
# engine): with the normalisation quantised, descriptors came out 3-7 % off unit length.
_IGNORED = [".*pool.*"]
# In the engine's cache key: a change to what is quantised or to what the engine holds builds
# a new engine.
_RECIPE_PARTS = (
    _IGNORED,
    CALIBRATION_TILES,
    PARITY_TILES,
    "parity: cosine, norm",
    "engine: encoder and pool; PCA and normalisation in torch",
)
RECIPE = hashlib.sha256(repr(_RECIPE_PARTS).encode()).hexdigest()[:6]


class OpenVinoUnavailable(Exception):
    """OpenVINO (or NNCF) cannot build or run the engine here; the message says why."""


@dataclass(frozen=True)
class Parity:
    """Int8 against eager fp32 descriptors of the same held-out tiles: cosine, and the largest
    difference in length."""

    min_cosine: float
    mean_cosine: float
    tiles: int
    max_norm_error: float

    def text(self) -> str:
        return (
            f"parity: cosine to fp32 min {self.min_cosine:.3f}, mean {self.mean_cosine:.3f}, "
            f"lengths within {self.max_norm_error:.4f} over {self.tiles} held-out corpus tiles"
        )

    def failure(self) -> str | None:
        if self.min_cosine < PARITY_MIN_COSINE:
            return f"cosine below {PARITY_MIN_COSINE}"
        if self.max_norm_error > PARITY_MAX_NORM_ERROR:
            return f"descriptor lengths off fp32's by more than {PARITY_MAX_NORM_ERROR}"
        return None


class _Body(torch.nn.Module):
    """What the engine runs: the encoder and the NetVLAD pool, up to the unit VLAD vector."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.pool(self.model.encoder(x))


def _head(model: torch.nn.Module, vlad: np.ndarray) -> np.ndarray:
    """The rest of the forward, fp32 in torch: PCA, then the final L2 normalisation."""
    pca = model.pca
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(vlad, dtype=np.float32))
        out = torch.nn.functional.linear(x, pca.weight.float(), pca.bias.float())
        return torch.nn.functional.normalize(out, dim=1).numpy()


def _import():
    try:
        import openvino as ov
    except ImportError:
        raise OpenVinoUnavailable(f"openvino is not installed; {extra.INSTALL}") from None
    return ov


def build(
    model: torch.nn.Module,
    input_px: int,
    out_xml: Path,
    calibration: torch.Tensor | None,
) -> Parity | None:
    """Convert `model` at a fixed 1x3xPxP input; with `calibration` (N, 3, P, P) quantise it to
    int8 on all but the last PARITY_TILES images and measure parity on those."""
    ov = _import()
    model = model.float().eval()
    example = torch.zeros(1, 3, input_px, input_px)
    converted = ov.convert_model(
        _Body(model), example_input=example, input=[1, 3, input_px, input_px]
    )
    parity = None
    if calibration is not None:
        try:
            import nncf
        except ImportError:
            raise OpenVinoUnavailable(f"nncf is not installed; {extra.INSTALL}") from None
        held, fit = calibration[-PARITY_TILES:], calibration[:-PARITY_TILES]
        if len(fit) == 0:
            raise OpenVinoUnavailable(
                f"{len(calibration)} corpus tiles: int8 calibration needs more than "
                f"{PARITY_TILES} (held out for parity)"
            )
        data = nncf.Dataset([x[None].numpy() for x in fit])
        converted = nncf.quantize(
            converted,
            data,
            subset_size=len(fit),
            ignored_scope=nncf.IgnoredScope(patterns=_IGNORED, validate=False),
        )
        parity = _parity(ov, converted, model, held)
    staging = Path(tempfile.mkdtemp(dir=out_xml.parent, prefix=".build-"))
    try:
        ov.save_model(converted, staging / out_xml.name, compress_to_fp16=False)
        if parity is not None:
            (staging / "parity.json").write_text(json.dumps(parity.__dict__))
            (staging / "parity.json").replace(out_xml.with_suffix(".parity.json"))
        (staging / out_xml.with_suffix(".bin").name).replace(out_xml.with_suffix(".bin"))
        (staging / out_xml.name).replace(out_xml)  # last: the .xml marks a complete build
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return parity


def _parity(ov, converted, model: torch.nn.Module, held: torch.Tensor) -> Parity:
    compiled = ov.Core().compile_model(converted, "CPU")
    with torch.no_grad():
        ref = model(held)["vlad_descriptor"].numpy()
    out = _head(model, np.concatenate([compiled(x[None].numpy())[0] for x in held]))
    ref_norm, out_norm = np.linalg.norm(ref, axis=1), np.linalg.norm(out, axis=1)
    cos = (ref * out).sum(1) / np.maximum(ref_norm * out_norm, 1e-12)
    norm_error = float(np.abs(out_norm - ref_norm).max())
    return Parity(float(cos.min()), float(cos.mean()), len(held), norm_error)


def calibration_digest(images: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()[:12]


def openvino_embed(
    model: torch.nn.Module,
    sha256: str,
    input_px: int,
    engine_dir: Path,
    calibration: Callable[[], tuple[str, torch.Tensor]] | None,
) -> tuple[Callable[[torch.Tensor], np.ndarray], str, str]:
    """An embed function on the OpenVINO CPU plugin, the provisioning detail line and the
    engine's name (what built it: checkpoint, input size, calibration set, recipe).

    `calibration` (int8 only) returns the calibration set's digest and its preprocessed tiles.
    """
    ov = _import()
    folder = engine_dir / "openvino"
    folder.mkdir(parents=True, exist_ok=True)
    if calibration is None:
        images, same = None, f"{sha256[:16]}-{input_px}-fp32"
    else:
        digest, images = calibration()
        same = f"{sha256[:16]}-{input_px}-int8-{digest}"
    xml = folder / f"{same}-{RECIPE}.xml"
    built = xml.exists()
    if built:
        cache.touch(xml)  # recently used: the cache's bound evicts others first
    else:
        log.info("building the OpenVINO engine %s (minutes for int8)", xml.name)
        build(model, input_px, xml, images)
        cache.replace_older(folder, same, xml.stem)  # this engine of an older recipe
    parity = None
    if calibration is not None:
        parity = Parity(**json.loads(xml.with_suffix(".parity.json").read_text()))
    core = ov.Core()
    config = {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": torch.get_num_threads(),
        "CACHE_DIR": str(folder / f"{xml.stem}.compiled-{ov.__version__}"),
    }
    compiled = core.compile_model(str(xml), "CPU", config)

    def embed(x: torch.Tensor) -> np.ndarray:
        rows = np.ascontiguousarray(x.numpy(), dtype=np.float32)
        return _head(
            model, np.concatenate([compiled(rows[i : i + 1])[0] for i in range(len(rows))])
        )

    kind = "int8 (NNCF post-training, pool, PCA and normalisation fp32)" if parity else "fp32"
    detail = f"openvino {kind} on CPU ({int8_isa()}), {'cached' if built else 'built'} {xml.name}"
    if parity is not None:
        detail += f"; {parity.text()}"
        if failure := parity.failure():
            raise OpenVinoUnavailable(f"{detail}: {failure}; run pytorch-fp32 or recalibrate")
    return embed, detail, xml.stem
