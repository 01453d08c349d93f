"""Warnings a verdict carries: conditions that do not stop a run but weaken what its gate proves."""

from __future__ import annotations

from harness.record import Record


def record_warnings(record: Record) -> list[str]:
    """One line per warning, each naming the fix (empty when the run is clean)."""
    unpinned = record.provenance.get("unpinned")
    hint = record.provenance.get("pin_hint") or "pin its sha256 where the stack is configured"
    return [
        f"unpinned checkpoint {path}: its stack's configuration sets no sha256, so this verdict "
        f"may be about other weights than the ones reviewed; {hint}"
        for path in (unpinned if isinstance(unpinned, list) else [])
    ]
