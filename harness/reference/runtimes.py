"""Runtimes a provisioned backbone runs on, chosen by its `runtime` config field.

pytorch-fp16 is the onboard default; a host without usable fp16 kernels says so and runs the
scenario's `vpr.fallback_runtime` only where it names one. openvino-fp32 / openvino-int8 run on
the CPU plugin (`openvino_runtime`; int8 calibrated on the corpus tiles, parity to fp32
recorded). TensorRT exists only where it is importable (a Jetson); elsewhere it is a
provisioning failure with the reason, never a silent skip.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from harness import cache
from harness.atomic import atomic_path, build_lock
from harness.reference import engine_parts
from harness.reference.model_checks import Check
from harness.reference.provisioned import Engine

Embed = Callable[[torch.Tensor], np.ndarray]
Tiles = Callable[[], np.ndarray]  # uint8 (N, H, W, 3) corpus tiles, for int8 calibration


@dataclass(frozen=True)
class Runtime:
    name: str  # what actually runs (may differ from the configured one after a fallback)
    dtype: str
    embed: Embed  # normalised input (N, 3, H, W) float32 -> descriptors (N, D)
    build: str = ""  # a built engine's name: descriptors cached from another build are stale
    engine_file: Path | None = None  # the built engine (its provenance), where one was built


class RuntimeUnavailable(Exception):
    """The configured runtime cannot run here; the message says why and what to do, and
    `figures` what it measured (a refused int8 engine's parity)."""

    def __init__(self, message: str, figures: dict | None = None) -> None:
        super().__init__(message)
        self.figures = figures


def _torch_embed(model: torch.nn.Module, dtype: torch.dtype, device: str) -> Embed:
    # channels-last: oneDNN's (and cuDNN's) fast convolution layout, the same math (VGG16 at
    # 240 px: 0.245 -> 0.203 s a frame on 2 CPU cores, descriptors equal to 2e-8)
    fast = torch.channels_last
    model = model.to(device=device, dtype=dtype, memory_format=fast).eval()

    @torch.inference_mode()
    def embed(x: torch.Tensor) -> np.ndarray:
        x = x.to(device=device, dtype=dtype).contiguous(memory_format=fast)
        return model(x)["vlad_descriptor"].float().cpu().numpy()

    return embed


@functools.cache
def _fp16_slowdown(device: str) -> float:
    """How much slower one fp16 conv runs than fp32 here (CPUs without fp16 kernels: ~100x).

    Single-threaded, best of 3: on a busy host each two-thread call waits tens of ms for the
    other thread, which hid a ~100x slower fp16 kernel behind a 1.5x ratio (and the full model
    then ran at ~45 s per frame). Measured once per process, so one run cannot pick fp16 for
    one engine and fp32 for the next.
    """
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(device)
    x = torch.rand(1, 64, 32, 32, device=device)
    times, threads = [], torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            for dtype in (torch.float32, torch.float16):
                c, xi = conv.to(dtype), x.to(dtype)
                c(xi)
                best = float("inf")
                for _ in range(3):
                    start = time.perf_counter()
                    c(xi)
                    if device == "cuda":
                        torch.cuda.synchronize()
                    best = min(best, time.perf_counter() - start)
                times.append(best)
    finally:
        torch.set_num_threads(threads)
    return times[1] / max(times[0], 1e-9)


def _fp16(engine: Engine, device: str) -> Embed:
    slowdown = _fp16_slowdown(device)
    if slowdown > 4.0:
        raise RuntimeUnavailable(
            f"no fast fp16 kernels on {device}: fp16 conv is {slowdown:.0f}x slower than fp32"
        )
    embed = _torch_embed(engine.model, torch.float16, device)
    probe = embed(torch.rand(2, 3, 32, 32))
    if not np.all(np.isfinite(probe)):
        raise RuntimeUnavailable(f"fp16 on {device} gives non-finite descriptors")
    return embed


def _onnxruntime(engine: Engine, input_px: int, engine_dir: Path) -> Embed:
    try:
        import onnxruntime as ort
    except ImportError:
        raise RuntimeUnavailable("onnxruntime is not installed") from None
    same = f"{engine.sha256[:16]}-{input_px}"
    path = engine_dir / f"{same}-body.onnx"  # the PCA runs from the checkpoint (engine_parts)
    model = engine.model.float().eval()
    with build_lock(path):  # two workers exporting the same engine: one does it
        if not path.exists():
            dummy = torch.rand(1, 3, input_px, input_px)
            with atomic_path(path) as tmp:
                torch.onnx.export(
                    engine_parts.Body(model),
                    (dummy,),
                    str(tmp),
                    input_names=["image"],
                    output_names=["vlad_descriptor"],
                    dynamic_axes={"image": {0: "n"}, "vlad_descriptor": {0: "n"}},
                    dynamo=False,
                )
            cache.replace_older(engine_dir, same, path.stem)  # an older export
    cache.touch(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def embed(x: torch.Tensor) -> np.ndarray:
        vlad = session.run(None, {"image": x.numpy().astype(np.float32)})[0]
        return engine_parts.head(model, vlad)

    return embed


def calibration_tiles(corpus, count: int = 24) -> np.ndarray:
    """`count` corpus tiles spread evenly over the corpus (all of a smaller one)."""
    picks = np.unique(np.linspace(0, len(corpus) - 1, min(count, len(corpus))).round().astype(int))
    return np.stack([corpus.image(int(i)) for i in picks])


def _openvino(
    engine: Engine, input_px: int, engine_dir: Path, tiles: Tiles | None, int8: bool
) -> tuple[Embed, str, Path, dict | None]:
    from harness.reference import openvino_runtime as ovr
    from harness.reference.vpr.preprocess import to_input

    calibration = None
    if int8:
        if tiles is None:
            raise RuntimeUnavailable("int8 calibration needs the corpus tiles; none were given")

        def calibration() -> tuple[str, torch.Tensor]:
            images = tiles()
            return ovr.calibration_digest(images), to_input(images, input_px)

    try:
        return ovr.openvino_embed(engine.model, engine.sha256, input_px, engine_dir, calibration)
    except ovr.OpenVinoUnavailable as exc:
        raise RuntimeUnavailable(str(exc), exc.figures) from None
    except Exception as exc:  # conversion, quantisation or compilation: a recorded failure
        if out_of_memory(exc):
            raise  # the host ran out: a resource failure, not the model's
        raise RuntimeUnavailable(f"OpenVINO could not build or compile the engine: {exc}") from None


def out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is the host or device running out of memory (not a model problem)."""
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text


def make_runtime(
    engine: Engine,
    input_px: int,
    engine_dir: Path,
    fallback: str | None = None,
    tiles: Tiles | None = None,
) -> tuple[Runtime, Check]:
    """The runtime for `engine`, and the provisioning check that records what was chosen.

    `fallback` (the scenario's `vpr.fallback_runtime`) runs instead of pytorch-fp16 where this
    host has no usable fp16 (a CPU replay host); the check says what ran and why."""
    wanted = engine.backbone.runtime
    try:
        return _runtime(wanted, engine, input_px, engine_dir, tiles)
    except (RuntimeUnavailable, RuntimeError) as exc:
        if out_of_memory(exc):
            raise  # a resource failure breaks the run (infra-error), it says nothing of the model
        reason, figures = f"{wanted}: {exc}", getattr(exc, "figures", None)
    if wanted != "pytorch-fp16" or fallback is None:
        hint = (
            "; set vpr.fallback_runtime (pytorch-fp32, openvino-int8, ...) to run on this host"
            if wanted == "pytorch-fp16"
            else ""
        )
        return None, Check("runtime", False, reason + hint, figures)  # type: ignore[return-value]
    try:
        runtime, check = _runtime(fallback, engine, input_px, engine_dir, tiles)
    except (RuntimeUnavailable, RuntimeError) as exc:
        if out_of_memory(exc):
            raise
        detail = f"{reason}; the fallback {fallback} cannot run either: {exc}"
        figures = getattr(exc, "figures", None)
        return None, Check("runtime", False, detail, figures)  # type: ignore[return-value]
    detail = f"{reason}; fell back to {check.detail} as allowed"
    return runtime, Check("runtime", True, detail, check.figures)


def _runtime(
    name: str, engine: Engine, input_px: int, engine_dir: Path, tiles: Tiles | None
) -> tuple[Runtime, Check]:
    """Runtime `name` for `engine` (RuntimeUnavailable with the reason where it cannot run)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if name in ("openvino-fp32", "openvino-int8"):
        int8 = name == "openvino-int8"
        embed, detail, built, figures = _openvino(engine, input_px, engine_dir, tiles, int8)
        runtime = Runtime(name, "int8" if int8 else "float32", embed, built.stem, built)
        return runtime, Check("runtime", True, detail, figures)
    if name == "pytorch-fp32":
        embed = _torch_embed(engine.model, torch.float32, device)
        return Runtime(name, "float32", embed), Check("runtime", True, f"{name} on {device}")
    if name == "pytorch-fp16":
        embed = _fp16(engine, device)
        return Runtime(name, "float16", embed), Check("runtime", True, f"{name} on {device}")
    if name == "onnxruntime":
        return Runtime(name, "float32", _onnxruntime(engine, input_px, engine_dir)), Check(
            "runtime", True, "onnxruntime (CPUExecutionProvider)"
        )
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        raise RuntimeUnavailable(
            "TensorRT is not importable on this host (JetPack ships it on the Jetson); "
            "run with --jetson or choose runtime pytorch-fp16"
        ) from None
    raise RuntimeUnavailable("the reference pipeline builds no TensorRT engines yet")
