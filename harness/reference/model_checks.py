"""Provisioning of NetVLAD backbones: verify a checkpoint, "compile" it, deserialize it.

As on the onboard stack, NetVLAD runs on PyTorch: compiling an engine records the sha256
and path; deserialising is a weights-only load plus a strict load. Every check is recorded.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from harness.errors import ProvisioningError
from harness.reference.checkpoint_file import Check, file_checks
from harness.reference.checkpoint_kind import TORCH, sniff
from harness.reference.operator_config import Backbone
from harness.reference.vpr.netvlad import NetVladVgg16, expected_layout

# The probe input of the one forward pass provisioning runs: small, fixed, deterministic.
PROBE_PX = 64


def _foreign(path: Path) -> ProvisioningError | None:
    """An error naming what `path` really is, when it is no PyTorch checkpoint."""
    try:
        kind = sniff(path)
    except OSError:
        return None
    if kind is TORCH:
        return None
    return ProvisioningError(f"{path}: is {kind.name}, not a PyTorch checkpoint; {kind.fix}")


def load_weights(path: Path, allow: Sequence = ()) -> dict:
    """torch.load(weights_only=True): a pickle with code in it is refused, never run.

    `allow` names the few extra globals a caller accepts (torch.serialization.safe_globals
    entries), for files that carry more than tensors, such as numpy scalars. A directory, an
    unreadable file or a foreign format (.mat, ONNX, text...) is named with its fix.
    """
    path = Path(path)
    if path.is_dir():
        raise _foreign(path)
    try:
        with path.open("rb"):
            pass
    except PermissionError:
        raise ProvisioningError(
            f"{path}: unreadable (permission denied); make it readable by this user "
            "(chmod a+r) or run as its owner"
        ) from None
    except OSError as exc:
        raise ProvisioningError(
            f"{path}: cannot be opened ({exc.strerror}); check the path"
        ) from None
    try:
        with torch.serialization.safe_globals(list(allow)):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if (foreign := _foreign(path)) is not None:
            raise foreign from None
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f"it pickles {found.group(1)}" if found else "it holds more than tensors"
        raise ProvisioningError(
            f"{path}: refused by torch.load(weights_only=True): {what}; "
            "re-save it as a plain state_dict of tensors"
        ) from None
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        if (foreign := _foreign(path)) is not None:
            raise foreign from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ProvisioningError(
            f"{path}: not a readable torch checkpoint ({first}); re-copy it (truncated?) or "
            "re-save it with torch.save(model.state_dict(), path)"
        ) from None
    if not isinstance(state, dict):
        raise ProvisioningError(
            f"{path}: holds a {type(state).__name__}, not a state_dict; save model.state_dict()"
        )
    return state


def input_normalisation(path: Path) -> dict | None:
    """The input normalisation a checkpoint's provenance records (MATLAB-origin imports do),
    or None for the PyTorch family's ImageNet default."""
    import json

    try:
        doc = json.loads(Path(path).with_suffix(".provenance.json").read_text())
    except (OSError, ValueError):
        return None
    norm = doc.get("input_normalisation") if isinstance(doc, dict) else None
    return norm if isinstance(norm, dict) else None


def non_finite(state: dict[str, object]) -> list[str]:
    """'key: N NaN/Inf of M' for every floating tensor holding a non-finite value."""
    out = []
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            bad = int((~torch.isfinite(value)).sum())
            if bad:
                out.append(f"{key}: {bad} NaN/Inf of {value.numel()}")
    return out


def layout_problems(state: dict[str, object], backbone: Backbone) -> list[str]:
    """Missing, unexpected and mis-shaped keys against the configured architecture, all at once."""
    want = expected_layout(backbone.width, backbone.clusters, backbone.descriptor_dim)
    problems = [f"missing {k} {list(s)}" for k, s in want.items() if k not in state]
    for key, value in state.items():
        if key not in want:
            problems.append(f"unexpected {key}")
        elif not isinstance(value, torch.Tensor):
            problems.append(f"{key} is a {type(value).__name__}, not a tensor")
        elif tuple(value.shape) != want[key]:
            problems.append(f"{key} has shape {list(value.shape)}, expected {list(want[key])}")
    dtypes = sorted(
        {
            str(v.dtype).removeprefix("torch.")
            for v in state.values()
            if isinstance(v, torch.Tensor) and v.dtype != torch.float32
        }
    )
    if dtypes:
        problems.append(
            f"tensors are {', '.join(dtypes)}, the layout is float32: re-save with "
            "{k: v.float() for k, v in state.items()} (the runtime makes fp16 itself)"
        )
    return problems


def build_model(backbone: Backbone, state: dict[str, torch.Tensor]) -> NetVladVgg16:
    """A model holding `state`, loaded strictly (no random init is spent: built on meta)."""
    with torch.device("meta"):
        model = NetVladVgg16(backbone.width, backbone.clusters, backbone.descriptor_dim)
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


def verify(backbone: Backbone, path: Path) -> Iterator[Check | NetVladVgg16]:
    """Yield each check in order and, if all pass, the loaded model last."""
    for check in file_checks(backbone, path):
        yield check
        if not check.ok:
            return
    yield from model_checks(backbone, path)


def model_checks(backbone: Backbone, path: Path) -> Iterator[Check | NetVladVgg16]:
    """The checks after the file checks (weights-only load, layout, strict load, finite,
    forward) and, if all pass, the loaded model last."""
    try:
        state = load_weights(path)
    except ProvisioningError as exc:
        yield Check("weights_only", False, str(exc))
        return
    yield Check("weights_only", True, f"{len(state)} entries")
    problems = layout_problems(state, backbone)
    if problems:
        detail = f"{path} does not match the NetVLAD-VGG16 layout: " + "; ".join(problems)
        yield Check("layout", False, detail)
        return
    yield Check("layout", True, f"{len(state)} keys")
    try:
        model = build_model(backbone, state)
    except RuntimeError as exc:
        yield Check("strict_load", False, str(exc).splitlines()[0])
        return
    yield Check("strict_load", True, "load_state_dict(strict=True)")
    for check in (finite_weights(path, state), forward_probe(model)):
        yield check
        if not check.ok:
            return
    yield model


def finite_weights(path: Path, state: dict[str, torch.Tensor]) -> Check:
    """The first tensor of the checkpoint that holds NaN or inf, in state_dict order."""
    for key, value in state.items():
        bad = ~torch.isfinite(value)
        if bad.any():
            what = "NaN" if torch.isnan(value).any() else "inf"
            return Check(
                "finite",
                False,
                f"{path}: tensor {key} holds {what} ({int(bad.sum())} of {value.numel()} "
                "values); the checkpoint is corrupt or its training diverged: re-export it",
            )
    return Check("finite", True, f"{len(state)} tensors finite")


@torch.no_grad()
def forward_probe(model: NetVladVgg16) -> Check:
    """One forward pass on a fixed input: the descriptor must be finite (fp32, CPU)."""
    x = torch.linspace(-2.0, 2.0, 3 * PROBE_PX * PROBE_PX).reshape(1, 3, PROBE_PX, PROBE_PX)
    out = model(x)["vlad_descriptor"]
    if not torch.isfinite(out).all():
        return Check(
            "forward",
            False,
            f"a {PROBE_PX} px forward pass gives a non-finite descriptor "
            f"({int((~torch.isfinite(out)).sum())} of {out.numel()} values) with finite weights: "
            "the weights overflow; check their scale",
        )
    return Check("forward", True, f"{PROBE_PX} px probe: finite {list(out.shape)} descriptor")
