"""OpenVINO on the CPU: the PyTorch model converted to IR, fp32 or NNCF post-training int8.

The engine holds the encoder and the NetVLAD pool; the PCA and the final normalisation run in
torch fp32 from the loaded checkpoint (`engine_parts`: no engine carries a copy of the PCA).

Int8 is calibrated on the scenario's own corpus tiles, preprocessed exactly as at inference,
with the NetVLAD pool kept in fp32 (quantising the soft-assignment and the normalisations
turned the descriptors to noise: cosine to fp32 0.07-0.15; with them in fp32, 0.96-0.98). The
IR is cached on disk by (checkpoint, input size, calibration set, recipe) with a parity
sidecar (cosine to the eager fp32 forward on held tiles, measured once when it is built);
compiled blobs go beside it, one folder per engine and OpenVINO version. Building an engine
removes the same engine of an older recipe; the cache's bound evicts the least used.

Parity protects retrieval, not only descriptors: a tile-similarity spread of a few tenths of a
percent lets an engine with cosine 0.95 reorder most retrievals. So the query path runs on the
held-out tiles seen as a frame sees them (shifted by 1/QUERY_SHIFT of a tile), against every
calibration tile, with both engines: int8's top-1 tile must agree with fp32's on at least
PARITY_MIN_TOP1 of the queries and its recall@1 be within PARITY_MAX_RECALL_DIFF of fp32's, or
provisioning fails naming the figures (the runtime check's detail and `figures`: the record's
provisioning event, Allure's provisioning step).

Shifted tiles stand in for the clip's frames because provisioning may not look at frames: the
engine is built before the first query, when no frame's pixels have been released (a stage
sees a frame only at its turn), a frame's right tile is ground truth (the stack never reads
it) and its north-up alignment needs a pose nobody has yet. A held-out tile shifted off the
corpus grid is what a frame becomes after alignment, with its answer known by construction.
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
from harness.build_times import timed
from harness.reference import engine_parts, extra
from harness.reference.cpu import int8_isa

log = logging.getLogger(__name__)

CALIBRATION_TILES = 16  # NNCF statistics: each is one uncompiled forward (seconds at 480 px)
PARITY_TILES = 8  # tiles held out of calibration for the cosine to fp32
PARITY_MIN_COSINE = 0.9  # below this the int8 engine is a provisioning failure
# Descriptor lengths within this of fp32's (the vpr-contract's unit-norm tolerance): cosine
# cannot see lengths, and 3-7 % length errors once swamped the scaffold's 0.4 % similarity
# spread (recall@1 0.40 -> 0.03) while its cosine read 1.000.
PARITY_MAX_NORM_ERROR = 0.01
PARITY_MIN_TOP1 = 0.95  # int8's top-1 tile is fp32's on at least this share of the queries
PARITY_MAX_RECALL_DIFF = 0.02  # and its recall@1 within this of fp32's
QUERY_SHIFT = 16  # a held-out tile seen as a frame: shifted by 1/QUERY_SHIFT of its side
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
    f"parity: queries shifted 1/{QUERY_SHIFT}",
)
RECIPE = hashlib.sha256(repr(_RECIPE_PARTS).encode()).hexdigest()[:6]


class OpenVinoUnavailable(Exception):
    """OpenVINO (or NNCF) cannot build or run the engine here; the message says why, and
    `figures` holds a refused engine's parity."""

    def __init__(self, message: str, figures: dict | None = None) -> None:
        super().__init__(message)
        self.figures = figures


@dataclass(frozen=True)
class Parity:
    """Int8 against eager fp32 on the same held-out tiles: descriptor cosine, the largest
    difference in length, and the query path's agreement."""

    min_cosine: float
    mean_cosine: float
    tiles: int
    max_norm_error: float
    top1_agreement: float
    top5_overlap: float
    recall1_int8: float
    recall1_fp32: float

    def text(self) -> str:
        return (
            f"parity: cosine to fp32 min {self.min_cosine:.3f}, mean {self.mean_cosine:.3f}, "
            f"lengths within {self.max_norm_error:.4f} over {self.tiles} held-out corpus tiles; "
            f"queries: top-1 agrees with fp32 on {self.top1_agreement:.2f}, top-5 overlap "
            f"{self.top5_overlap:.2f}, recall@1 {self.recall1_int8:.2f} (fp32 "
            f"{self.recall1_fp32:.2f})"
        )

    def failure(self) -> str | None:
        if not all(np.isfinite(v) for v in self.__dict__.values()):
            return "a parity figure is not finite"
        if self.min_cosine < PARITY_MIN_COSINE:
            return f"cosine below {PARITY_MIN_COSINE}"
        if self.max_norm_error > PARITY_MAX_NORM_ERROR:
            return f"descriptor lengths off fp32's by more than {PARITY_MAX_NORM_ERROR}"
        if self.top1_agreement < PARITY_MIN_TOP1:
            return f"top-1 agreement with fp32 {self.top1_agreement:.2f} < {PARITY_MIN_TOP1}"
        if abs(self.recall1_int8 - self.recall1_fp32) > PARITY_MAX_RECALL_DIFF:
            return (
                f"recall@1 {self.recall1_int8:.2f} vs fp32 {self.recall1_fp32:.2f}: more than "
                f"{PARITY_MAX_RECALL_DIFF} apart"
            )
        return None


def query_parity(
    embed: Callable[[torch.Tensor], np.ndarray],
    model: torch.nn.Module,
    images: torch.Tensor,
    gallery: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, float]:
    """The query path with both engines: the last PARITY_TILES `images`, shifted as a frame
    sees them, retrieved among all `images`; top-1 agreement, top-5 overlap and recall@1.
    `gallery`: the fp32 and int8 descriptors of `images`, when the caller has them already."""
    held = len(images) - PARITY_TILES + np.arange(PARITY_TILES)
    side = images.shape[-1] // QUERY_SHIFT
    queries = torch.roll(images[held], shifts=(side, side), dims=(2, 3))
    if gallery is None:
        with torch.no_grad():
            gallery = (model(images)["vlad_descriptor"].numpy(), embed(images))
    with torch.no_grad():
        asked = (model(queries)["vlad_descriptor"].numpy(), embed(queries))
    ranks = {}
    for name, tiles, frames in zip(("fp32", "int8"), gallery, asked, strict=True):
        ranks[name] = np.argsort(-(frames @ tiles.T), axis=1)[:, :5]
    top1 = ranks["int8"][:, 0] == ranks["fp32"][:, 0]
    overlap = [len(set(a) & set(b)) / 5 for a, b in zip(ranks["int8"], ranks["fp32"], strict=True)]
    return {
        "top1_agreement": float(top1.mean()),
        "top5_overlap": float(np.mean(overlap)),
        "recall1_int8": float(np.mean(ranks["int8"][:, 0] == held)),
        "recall1_fp32": float(np.mean(ranks["fp32"][:, 0] == held)),
    }


def _import():
    _decline_telemetry()
    try:
        import openvino as ov
    except ImportError:
        raise OpenVinoUnavailable(f"openvino is not installed; {extra.INSTALL}") from None
    return ov


def _decline_telemetry() -> None:
    """Decline OpenVINO's and NNCF's usage telemetry for this process.

    Unless a user opted out, each conversion and quantisation sends about 17 events, each from
    a forked copy of this process given 3 s to reach the network. A stack in flight has none:
    the forks only cost time (3.4 s on one small build here), and one terminated while its
    parent handles SIGTERM can outlive the run. Neither package reads an environment variable
    for this (their opt-out is a file in the user's home), so the consent check is answered here.
    """
    try:
        from openvino_telemetry.utils import opt_in_checker
    except ImportError:
        return
    declined = opt_in_checker.ConsentCheckResult.DECLINED
    opt_in_checker.OptInChecker.check = lambda self, *args, **kwargs: declined


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
        engine_parts.Body(model), example_input=example, input=[1, 3, input_px, input_px]
    )
    parity = None
    if calibration is not None:
        try:
            import nncf
        except ImportError:
            raise OpenVinoUnavailable(f"nncf is not installed; {extra.INSTALL}") from None
        fit = calibration[:-PARITY_TILES]
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
        parity = _parity(ov, converted, model, calibration)
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


def _parity(ov, converted, model: torch.nn.Module, images: torch.Tensor) -> Parity:
    compiled = ov.Core().compile_model(converted, "CPU")

    def embed(x: torch.Tensor) -> np.ndarray:
        return engine_parts.head(
            model, np.concatenate([compiled(row[None].numpy())[0] for row in x])
        )

    with torch.no_grad():
        gallery = (model(images)["vlad_descriptor"].numpy(), embed(images))
    ref, out = (descriptors[-PARITY_TILES:] for descriptors in gallery)  # held out of fitting
    ref_norm, out_norm = np.linalg.norm(ref, axis=1), np.linalg.norm(out, axis=1)
    cos = (ref * out).sum(1) / np.maximum(ref_norm * out_norm, 1e-12)
    norm_error = float(np.abs(out_norm - ref_norm).max())
    figures = query_parity(embed, model, images, gallery)
    return Parity(float(cos.min()), float(cos.mean()), len(ref), norm_error, **figures)


def calibration_digest(images: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()[:12]


def openvino_embed(
    model: torch.nn.Module,
    sha256: str,
    input_px: int,
    engine_dir: Path,
    calibration: Callable[[], tuple[str, torch.Tensor]] | None,
) -> tuple[Callable[[torch.Tensor], np.ndarray], str, Path, dict | None]:
    """An embed function on the OpenVINO CPU plugin, the provisioning detail line, the
    engine's file (its name says what built it: checkpoint, input size, calibration set,
    recipe) and its parity figures (int8; None for fp32).

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
        with timed("engine", xml.name):
            build(model, input_px, xml, images)
        cache.replace_older(folder, same, xml.stem)  # this engine of an older recipe
        cache.replace_older(folder, "compiled", "")  # the blob folder all engines once shared
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
        return engine_parts.head(
            model, np.concatenate([compiled(rows[i : i + 1])[0] for i in range(len(rows))])
        )

    kind = "int8 (NNCF post-training, pool, PCA and normalisation fp32)" if parity else "fp32"
    detail = f"openvino {kind} on CPU ({int8_isa()}), {'cached' if built else 'built'} {xml.name}"
    figures = None if parity is None else dict(parity.__dict__)
    if parity is not None:
        detail += f"; {parity.text()}"
        if failure := parity.failure():
            raise OpenVinoUnavailable(
                f"{detail}: {failure}; run pytorch-fp32 or recalibrate", figures
            )
    return embed, detail, xml, figures
