"""The baseline of a Tier-2 check: 'last green', chosen per scenario among comparable runs.

A run is green when every scenario in it ended as expected. Two runs are comparable when
they ran on the same kind of machine (runner and device class): a one-scenario docker run
is no baseline for a local session, and a run that lacks a scenario is never that
scenario's baseline. On a farm each board is its own device: a board's result is compared
with that board's last green result, whatever the other boards did.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from harness.history.ledger import Row

GREEN_STATUSES = {"passed", "skipped", "xfailed"}

Setup = tuple[str | None, str | None]


def device_class(row: Row) -> str | None:
    """The kind of device a row ran on (today the device string: 'cpu', 'cuda:<name>')."""
    return row.device


def setup_of(row: Row) -> Setup:
    return (row.runner, device_class(row))


def same_setup(a: Setup, b: Setup) -> bool:
    """Same runner and device class; an unknown side (a row that never ran) matches any."""
    return all(x is None or y is None or x == y for x, y in zip(a, b, strict=True))


def head_setup(head: Iterable[Row]) -> Setup:
    """The setup most of the head run's scenarios ran on (config errors never ran: skipped)."""
    counts = Counter(setup_of(r) for r in head if r.runner is not None)
    return counts.most_common(1)[0][0] if counts else (None, None)


def green_runs(history: Iterable[Row]) -> set[str]:
    """Runs in which every scenario ended as expected (passed, skipped or xfailed)."""
    status: dict[str, bool] = {}
    for row in history:
        status[row.run_id] = status.get(row.run_id, True) and row.status in GREEN_STATUSES
    return {run for run, green in status.items() if green}


def last_green(history: list[Row], head: list[Row], before: list[str]) -> tuple[list[Row], str]:
    """Baseline rows and a label: per head scenario its newest row in a green, comparable run
    older than the head, plus the scenarios of the newest such run that the head lacks (so
    that they show as missing). A head that ran on several devices (farm places) is judged
    device by device: each board against its own rows, green where its own rows were."""
    order = {run: i for i, run in enumerate(before)}
    devices = sorted({r.device for r in head if r.device})
    if len(devices) > 1:
        rows = [
            row
            for d in devices
            for row in _newest_green(
                [r for r in history if r.device == d], [r for r in head if r.device == d], order
            )
        ]
    else:
        rows = _newest_green(history, head, order)
    runs = sorted({r.run_id for r in rows}, key=order.__getitem__)
    named = ", ".join(f"`{r}`" for r in runs)
    return rows, f"last green per scenario: run{'s' if len(runs) > 1 else ''} {named}"


def _newest_green(history: list[Row], head: list[Row], order: dict[str, int]) -> list[Row]:
    """last_green for one setup; `order` ranks the runs older than the head."""
    green = green_runs(r for r in history if r.run_id in order)
    setup = head_setup(head)
    candidates = [r for r in history if r.run_id in green and same_setup(setup_of(r), setup)]
    # The newest green run whose scenarios all ran on the head's setup: what the head must hold.
    whole = {
        run
        for run in green
        if all(same_setup(setup_of(r), setup) for r in history if r.run_id == run)
    }
    reference = max(whole, key=order.__getitem__, default=None)
    chosen: dict[str, Row] = {}
    for row in sorted(candidates, key=lambda r: order[r.run_id]):
        chosen[row.scenario] = row  # newest wins
    names = {r.scenario for r in head} | {
        r.scenario for r in history if reference is not None and r.run_id == reference
    }
    return [chosen[n] for n in sorted(names) if n in chosen]
