"""The guard that keeps the suite out of the project's reports/ sees every kind of write."""

from __future__ import annotations

import os
from pathlib import Path

from tests.helpers import tree_changes, tree_snapshot


def test_the_reports_guard_sees_new_changed_removed_files_and_new_folders(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    assert tree_snapshot(reports) == {}  # not there yet: creating it is a change too
    reports.mkdir()
    (reports / ".gitkeep").write_text("")
    (reports / "gate-ledger.sqlite").write_bytes(b"rows")
    before = tree_snapshot(reports)
    assert tree_changes(before, tree_snapshot(reports)) == []
    (reports / "gate-ledger.sqlite").write_bytes(b"more rows")
    (reports / "runs" / "s1").mkdir(parents=True)
    (reports / ".gitkeep").unlink()
    changed = tree_changes(before, tree_snapshot(reports))
    assert changed == [
        "runs (new)",
        "runs/s1 (new)",
        ".gitkeep (removed)",
        "gate-ledger.sqlite (changed)",
    ]
    # a rewrite of the same size is still seen (mtime)
    again = tree_snapshot(reports)
    stat = (reports / "gate-ledger.sqlite").stat()
    (reports / "gate-ledger.sqlite").write_bytes(b"same size")
    os.utime(reports / "gate-ledger.sqlite", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert tree_changes(again, tree_snapshot(reports)) == ["gate-ledger.sqlite (changed)"]
