"""Writing a checkpoint we made and its provenance page: one way for every maker.

The scaffold and an imported checkpoint both land as a plain state_dict (atomically, so a
killed run leaves no half file under the real name) with `.provenance.md` and
`.provenance.json` beside it, stating per layer group where the weights came from and whether
they are trained for VPR.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from harness.atomic import atomic_path, write_text
from harness.digest import file_digest
from harness.errors import ProvisioningError

# layer group -> (source, trained for VPR)
Groups = dict[str, tuple[str, bool]]


# torch.save names the zip archive's top folder after the file it writes, so the bytes (and
# the sha256 an operator pins) would depend on the file name. Every checkpoint is written
# under this one name in a private folder beside `out`, then moved into place.
INNER_NAME = "checkpoint.pt"


def check_out(out: Path) -> None:
    """Refuse an output path before any work: a directory, a parent that is a file, or a
    folder this user cannot write."""
    import os

    out = Path(out)
    if out.is_dir():
        raise ProvisioningError(
            f"--out {out} is a directory; give a file name, e.g. {out / 'netvlad.pt'}"
        )
    parent = out.parent
    existing = next((p for p in (parent, *parent.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ProvisioningError(
            f"--out {out}: {existing} is a file, not a folder; choose another --out"
        )
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise ProvisioningError(
            f"--out {out}: {existing} is not writable by this user; choose another --out"
        )


def save_state(state: dict[str, torch.Tensor], out: Path) -> str:
    """torch.save a plain state_dict of contiguous tensors to `out`; returns its sha256.

    The same tensors give the same bytes wherever they are written (see INNER_NAME), and
    the write is atomic (harness.atomic): a killed run leaves no half file under the real
    name; on any failure nothing is left."""
    check_out(out)
    try:
        with atomic_path(out, inner_name=INNER_NAME) as tmp:
            torch.save({k: v.contiguous() for k, v in state.items()}, tmp)
    except OSError as exc:
        raise ProvisioningError(
            f"--out {out}: cannot write the checkpoint ({exc.strerror or exc}); free space or "
            "choose another --out"
        ) from None
    return file_digest(out)


def layer_table(groups: Groups) -> list[str]:
    """Markdown rows: layers | source | trained for VPR."""
    rows = ["| layers | source | trained for VPR |", "|---|---|---|"]
    return rows + [f"| {g} | {src} | {'Yes' if t else 'No'} |" for g, (src, t) in groups.items()]


def write_provenance(out: Path, markdown: list[str], doc: dict, groups: Groups) -> None:
    """`out.provenance.md` (the lines given) and `out.provenance.json` (doc plus the layers)."""
    write_text(out.with_suffix(".provenance.md"), "\n".join(markdown) + "\n")
    layers = {g: {"source": s, "trained_for_vpr": t} for g, (s, t) in groups.items()}
    write_text(
        out.with_suffix(".provenance.json"),
        json.dumps({**doc, "layers": layers}, indent=2),
    )
