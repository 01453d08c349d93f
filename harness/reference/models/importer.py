"""Translate a pytorch-NetVlad (Nanne) checkpoint into the upstream 31-key NetVLAD-VGG16 layout.

Source key (after DataParallel's `module.` is removed)  ->  ours
    encoder.N.weight / .bias           -> encoder.N.*       copied: the same torchvision indices
    pool.conv.weight                   -> pool.conv.weight  copied
    pool.conv.bias (vladv2=True only)  -> pool.conv.bias    copied; absent: zeros (BIAS_ZEROS)
    pool.centroids                     -> pool.centroids    copied
    WPCA.0.weight (D, K*C, 1, 1)       -> pca.weight        reshaped to (D, K*C): a 1x1 conv on a
    WPCA.0.bias                        -> pca.bias            1x1 map is that Linear
Both sides use 0-1 RGB with ImageNet mean/std and flatten the VLAD cluster-major (k*C + c), so
the descriptors are the source model's own; a file of another family is refused, not guessed at.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from pathlib import Path

import torch

from harness.errors import ProvisioningError
from harness.reference.checkpoint_kind import sniff
from harness.reference.model_checks import non_finite
from harness.reference.models.checkpoint_io import check_out, save_state
from harness.reference.models.import_page import write_import_provenance
from harness.reference.models.imported import ImportResult, Translation, check_imported
from harness.reference.models.scaffold import encoder_from_torchvision
from harness.reference.models.source_checkpoint import SourceCheckpoint, read_source
from harness.reference.vpr.netvlad import expected_layout

log = logging.getLogger(__name__)
BIAS_ZEROS = (
    "zeros: the source was trained with vladv2=False, whose assignment conv has no bias, so its "
    "logits are w_k . x alone and a zero bias is exactly that function; the vladv2 bias "
    "(-alpha |c_k| from the centroids) belongs to a different initialisation and would shift "
    "every soft-assignment away from what the weights were trained with (alpha is not even "
    "stored)"
)
BIAS_SOURCE = "from the source (vladv2=True: its assignment conv has a bias)"
PCA_SOURCE = "PCA-whitening from the source's WPCA layer (1x1 conv reshaped to the Linear)"


def pca_random(seed: int) -> str:
    return (
        f"random Gaussian projection (seed {seed}) with zero bias, NOT trained: the source has "
        "no PCA; inner products of its trained VLAD vectors survive only approximately "
        "(Johnson-Lindenstrauss), so recall is below what fitted PCA-whitening gives"
    )


def _warn_negated(src: SourceCheckpoint) -> None:
    """pytorch-NetVlad initialises each assignment filter along its centroid; trained, they
    stay alike. Filters pointing away from their centroids mean MATLAB-style negated centres."""
    w, c = src.state.get("pool.conv.weight"), src.state.get("pool.centroids")
    if w is None or c is None or w.shape[:2] != c.shape:
        return
    cos = torch.nn.functional.cosine_similarity(w.flatten(1).float(), c.float(), dim=1)
    if float(cos.mean()) < -0.5:
        log.warning(
            "%s: the centroids look negated (mean cosine %.2f to their assignment filters): "
            "MATLAB-origin centres in a pytorch-NetVlad file? Descriptors will be wrong; "
            "import the release's .mat instead",
            src.path,
            float(cos.mean()),
        )


def _source_layout(want: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the source file (the same as ours except the PCA, a 1x1 conv there)."""
    layout = {k: s for k, s in want.items() if not k.startswith("pca.")}
    layout["WPCA.0.weight"] = (*want["pca.weight"], 1, 1)
    layout["WPCA.0.bias"] = want["pca.bias"]
    return layout


def _flags_from_shapes(state: dict[str, torch.Tensor]) -> str:
    """The --width/--clusters/--descriptor-dim this file's own shapes imply, if they tell."""
    flags = []
    centroids = state.get("pool.centroids")
    if centroids is not None and centroids.ndim == 2 and centroids.shape[1] % 8 == 0:
        flags += [f"--width {centroids.shape[1] // 8}", f"--clusters {centroids.shape[0]}"]
    wpca = state.get("WPCA.0.weight")
    if wpca is not None and wpca.ndim == 4:
        flags.append(f"--descriptor-dim {wpca.shape[0]}")
    return " ".join(flags)


def _problems(src: SourceCheckpoint, layout: dict, vgg16: Path | None) -> list[str]:
    """Missing, unexpected and mis-shaped source keys, all at once, named as the file has them."""
    state, name = src.state, src.original_keys
    encoder = [k for k in layout if k.startswith("encoder.")]
    has_encoder = any(k in state for k in encoder)
    problems = [f"unexpected key {name[k]}" for k in state if k not in layout]
    problems += [
        f"{name[k]} has shape {list(v.shape)}, expected {list(layout[k])}"
        for k, v in state.items()
        if k in layout and tuple(v.shape) != layout[k]
    ]
    if vgg16 is not None and has_encoder:
        problems.append(
            f"it has its own encoder (trained with its pool), so --vgg16 {vgg16.name} would "
            "replace it; drop --vgg16"
        )
    if not has_encoder and vgg16 is None:
        problems.append(
            "no encoder keys (encoder.0 .. encoder.28); pass --vgg16 FILE for an ImageNet encoder"
        )
    required = ["pool.conv.weight", "pool.centroids"] + (encoder if has_encoder else [])
    problems += [f"missing {k} {list(layout[k])}" for k in required if k not in state]
    if ("WPCA.0.weight" in state) != ("WPCA.0.bias" in state):
        problems.append("WPCA.0 has a weight or a bias but not both")
    return problems


def _check_source(src: SourceCheckpoint, want: dict, vgg16: Path | None) -> None:
    problems = _problems(src, _source_layout(want), vgg16)
    if not problems:
        return
    clusters, dim = want["pool.centroids"]
    out = want["pca.weight"][0]
    implied = _flags_from_shapes(src.state)
    given = f"--width {dim // 8} --clusters {clusters} --descriptor-dim {out}"
    fix = (
        f"its own shapes say `{implied}`: pass those if it is the model you meant"
        if implied and not given.startswith(implied)
        else "give a complete pytorch-NetVlad VGG16 NetVLAD checkpoint "
        "(encoder.N, pool.conv, pool.centroids, optionally WPCA.0)"
    )
    raise ProvisioningError(
        f"{src.path}: cannot import as NetVLAD-VGG16 (width {dim // 8}, {clusters} clusters, "
        f"{out}-d): {'; '.join(problems)}. Fix: {fix}"
    )


def _encoder_from(vgg16: Path, want: dict) -> dict[str, torch.Tensor]:
    enc = encoder_from_torchvision(vgg16)
    bad = [
        f"features.{k[len('encoder.') :]} has shape {list(v.shape)}, expected {list(want[k])}"
        for k, v in enc.items()
        if tuple(v.shape) != want[k]
    ]
    if bad:
        raise ProvisioningError(
            f"{vgg16}: {'; '.join(bad)}. Fix: give torchvision's VGG16 file for width "
            f"{want['encoder.0.weight'][0]} (64 = the standard VGG16)"
        )
    return enc


def _copied(value: torch.Tensor) -> str:
    """How a tensor was carried over: the layout is float32, so other dtypes are cast."""
    return "copied" if value.dtype == torch.float32 else f"copied, cast from {value.dtype}"


def _pca(
    src: SourceCheckpoint, want: dict, random_pca: bool, seed: int
) -> tuple[dict[str, torch.Tensor], list[tuple[str, str, str]], str]:
    """pca.weight/bias from the source's WPCA conv, or (only when asked) a random projection."""
    s, name = src.state, src.original_keys
    rows, cols = want["pca.weight"]
    if "WPCA.0.weight" in s:
        if random_pca:
            raise ProvisioningError(
                f"{src.path}: has its own PCA-whitening (WPCA.0), so --random-pca would discard "
                "it; drop --random-pca"
            )
        state = {"pca.weight": s["WPCA.0.weight"].reshape(rows, cols), "pca.bias": s["WPCA.0.bias"]}
        how = "reshaped (D, K*C, 1, 1) -> (D, K*C)"
        mapping = [(name["WPCA.0.weight"], "pca.weight", how)]
        bias = (name["WPCA.0.bias"], "pca.bias", _copied(s["WPCA.0.bias"]))
        return state, [*mapping, bias], "source"
    if not random_pca:
        raise ProvisioningError(
            f"{src.path}: has no PCA (WPCA.0.weight/bias): pytorch-NetVlad trains none, but the "
            f"upstream layout needs pca.weight {[rows, cols]}. Fix: pass --random-pca for a "
            "seeded random projection labelled NOT trained, or import a checkpoint with "
            "PCA-whitening (Patch-NetVLAD's WPCA layer)"
        )
    gen = torch.Generator().manual_seed(seed)
    state = {
        "pca.weight": torch.randn(rows, cols, generator=gen) / math.sqrt(rows),
        "pca.bias": torch.zeros(rows),
    }
    mapping = [("(none)", "pca.weight", f"random, seed {seed}"), ("(none)", "pca.bias", "zeros")]
    return state, mapping, "random"


def translate(
    src: SourceCheckpoint, want: dict, vgg16: Path | None, random_pca: bool, seed: int
) -> Translation:
    """Our state_dict and what each key came from; nothing is written."""
    _check_source(src, want, vgg16)
    s, name = src.state, src.original_keys
    state, mapping, pca = _pca(src, want, random_pca, seed)
    if vgg16 is not None:
        for key, value in _encoder_from(vgg16, want).items():
            state[key] = value
            mapping.append((f"{vgg16.name}:features.{key[len('encoder.') :]}", key, _copied(value)))
    for key in want:
        if key in s:
            state[key] = s[key]
            mapping.append((name[key], key, _copied(s[key])))
    if "pool.conv.bias" not in s:
        state["pool.conv.bias"] = torch.zeros(want["pool.conv.bias"])
        mapping.append(("(none: vladv2=False)", "pool.conv.bias", "zeros"))
    order = {k: i for i, k in enumerate(want)}
    return Translation(
        state={k: state[k].detach().to(torch.float32) for k in want},
        encoder=f"the source ({src.path.name})"
        if vgg16 is None
        else f"torchvision VGG16 file {vgg16.name} (ImageNet only)",
        bias=BIAS_SOURCE if "pool.conv.bias" in s else BIAS_ZEROS,
        pca=PCA_SOURCE if pca == "source" else pca_random(seed),
        mapping=sorted(mapping, key=lambda row: order[row[1]]),
        choices={
            "assignment_bias": "source" if "pool.conv.bias" in s else "zeros",
            "pca": pca,
            "encoder": "source" if vgg16 is None else "torchvision",
        },
    )


def import_checkpoint(
    source: Path,
    out: Path,
    *,
    width: int = 64,
    clusters: int = 64,
    descriptor_dim: int = 4096,
    vgg16: Path | None = None,
    random_pca: bool = False,
    seed: int = 0,
) -> ImportResult:
    """Write `out` in our layout plus its provenance page; the output is verified as
    provisioning will verify it before this returns."""
    check_out(out)
    try:
        kind = sniff(source)
    except OSError:
        kind = None  # load_weights names the problem
    if kind is not None and kind.name.startswith("a MATLAB .mat"):
        from harness.reference.models.matlab import import_matlab

        return import_matlab(
            source, out, width=width, clusters=clusters, descriptor_dim=descriptor_dim
        )
    want = expected_layout(width, clusters, descriptor_dim)
    src = read_source(source)
    bad = non_finite(src.state)
    if bad:
        raise ProvisioningError(
            f"{source}: non-finite values in the source ({'; '.join(bad[:4])}); training "
            "diverged or the file is corrupt: import an earlier checkpoint"
        )
    _warn_negated(src)
    done = translate(src, want, vgg16, random_pca, seed)
    sha = save_state(done.state, out)
    check_imported(out, width, clusters, descriptor_dim)
    result = ImportResult(out, sha, src, (width, clusters, descriptor_dim), replace(done, state={}))
    write_import_provenance(result)
    return result
