"""The provenance page of an imported checkpoint: what came from where, and what was decided.

A reader must be able to tell from this page alone whether the descriptors are the source
model's own (bias and PCA choices, preprocessing) and which file they came from (sha256).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from harness.reference.models.checkpoint_io import layer_table, write_provenance

if TYPE_CHECKING:
    from harness.reference.models.imported import ImportResult

PREPROCESSING = (
    "0-1 RGB normalised with ImageNet mean/std; VLAD flattened cluster-major (k * C + c), as "
    "pytorch-NetVlad does (MATLAB-origin weights use other conventions and are not this format)"
)


def write_import_provenance(result: ImportResult) -> None:
    src, done = result.source, result.translation
    chosen = done.choices
    width, clusters, dim = result.architecture
    groups = {
        "encoder.0 .. encoder.28 (VGG16 conv1_1..conv5_3)": (
            done.encoder,
            chosen["encoder"] == "source",
        ),
        "pool.conv.weight, pool.centroids": (f"the source ({src.path.name})", True),
        # a zero bias is the trained function itself when the source has none
        "pool.conv.bias": (
            "zeros (the source has none: vladv2=False)"
            if chosen["assignment_bias"] == "zeros"
            else "the source (vladv2=True)",
            True,
        ),
        "pca.weight, pca.bias": (
            "the source's WPCA layer"
            if chosen["pca"] == "source"
            else "random projection: NOT trained",
            chosen["pca"] == "source",
        ),
    }
    extras = ", ".join(f"{k} {json.dumps(v)}" for k, v in src.extras.items()) or "none"
    stripped = sum(k != o for k, o in src.original_keys.items())
    lines = [
        f"# {result.out.name}: NetVLAD-VGG16 imported from {src.path.name}",
        "",
        "A pytorch-NetVlad checkpoint translated into the upstream 31-key layout by "
        "`harness provision import`.",
        "",
        f"- sha256 `{result.sha256}`; width {width}, {clusters} clusters, {dim}-d descriptor.",
        f"- source `{src.path.name}`, sha256 `{src.sha256}`.",
        f"- training extras in the source: {extras}.",
        f"- DataParallel: `module.` removed from {stripped} keys."
        if stripped
        else "- DataParallel: none (no `module.` in the keys).",
        f"- assignment bias: {done.bias}.",
        f"- PCA: {done.pca}.",
        f"- encoder: {done.encoder}.",
        f"- preprocessing: {PREPROCESSING}.",
        "",
        *layer_table(groups),
        "",
        "| ours | from | how |",
        "|---|---|---|",
        *(f"| {to} | {frm} | {how} |" for frm, to, how in done.mapping),
        "",
        "Licence: as the source's owner licenses its weights; a torchvision encoder keeps "
        "BSD-3-Clause.",
        "Reproduce: `harness provision import` on the same source and flags (same bytes).",
    ]
    doc = {
        "sha256": result.sha256,
        "kind": "imported",
        "architecture": {"width": width, "clusters": clusters, "descriptor_dim": dim},
        "source": {
            "file": src.path.name,
            "sha256": src.sha256,
            "format": "pytorch-NetVlad",
            "extras": src.extras,
            "data_parallel_keys": stripped,
        },
        "choices": chosen,
        "assignment_bias": done.bias,
        "pca": done.pca,
        "encoder": done.encoder,
        "preprocessing": PREPROCESSING,
        "mapping": [{"from": f, "to": t, "how": h} for f, t, h in done.mapping],
    }
    write_provenance(result.out, lines, doc, groups)
