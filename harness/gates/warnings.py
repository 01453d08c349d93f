"""Warnings a verdict carries: conditions that do not stop a run but weaken what its gate proves."""

from __future__ import annotations

from harness.config import unpinned_checkpoints
from harness.record import Record


def record_warnings(record: Record) -> list[str]:
    """One line per warning, each naming the fix (empty when the run is clean)."""
    unpinned = record.provenance.get("unpinned")
    if not isinstance(unpinned, list):  # a record written before provenance said so
        unpinned = unpinned_checkpoints(record.config)
    return [
        f"unpinned checkpoint {path}: the operator config sets no sha256, so this verdict "
        "may be about other weights than the ones reviewed; run `harness provision pin`"
        for path in unpinned
    ]
