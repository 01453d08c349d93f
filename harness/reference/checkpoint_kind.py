"""What a file given as a checkpoint really is, from its first bytes, and what to do instead.

torch.load's own errors on a foreign file are misleading ("holds more than tensors"); this
names the format (a MATLAB .mat, an ONNX model, HDF5, text, an empty file, a directory) so
the message can give the right fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HDF5 = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class Kind:
    name: str  # e.g. "a MATLAB .mat file (v5)"
    fix: str


TORCH = Kind("a torch checkpoint", "")


def _onnx(head: bytes, path: Path) -> bool:
    """ONNX is a protobuf ModelProto: field 1 (ir_version, varint) first, or a .onnx name."""
    return path.suffix.lower() == ".onnx" or (head[:1] == b"\x08" and b"onnx" in head[:256].lower())


def sniff(path: Path) -> Kind:
    """The kind of `path`; raises OSError if it cannot be read."""
    path = Path(path)
    if path.is_dir():
        return Kind(
            "a directory", "point weights_path (or the source argument) at the .pt file inside it"
        )
    with path.open("rb") as f:
        head = f.read(1024)
    import_mat = "import it with `harness provision import FILE.mat` (the NetVLAD release)"
    if not head:
        return Kind("an empty file (0 bytes)", "re-copy or re-make the checkpoint")
    if head.startswith(b"MATLAB 5.0 MAT-file"):
        return Kind("a MATLAB .mat file (v5/v7)", import_mat)
    if head.startswith(b"MATLAB 7.3 MAT-file") or head[512:520] == HDF5:
        return Kind("a MATLAB .mat file (v7.3, HDF5)", import_mat)
    if head.startswith(HDF5):
        return Kind("an HDF5 file (Keras/TF weights?)", "convert it to a PyTorch state_dict")
    if head.startswith(b"PK\x03\x04") or head[:2] == b"\x80\x02":
        return TORCH
    if _onnx(head, path):
        return Kind(
            "an ONNX model",
            "give the PyTorch state_dict (.pt) the ONNX model was exported from; provisioning "
            "verifies and exports from that",
        )
    if b"\x00" not in head:
        try:
            head[: max(len(head) - 4, 1)].decode("utf-8")  # a character may straddle the cut
            return Kind("a text file", "give the binary .pt/.pth checkpoint, not a text file")
        except UnicodeDecodeError:
            pass
    return Kind("not a checkpoint format this harness knows", "give a PyTorch state_dict (.pt)")
