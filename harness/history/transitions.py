"""Gate transitions between runs: forward/backward moves, metric deltas, comparability, flakiness.

Numbers only: no I/O beyond the rows given. A move is judged on `harness.gates.LADDER`
between runs on the same inputs (clip and corpus); a checkpoint change is named in the note;
`no-data` counts as below every ladder gate (a failure, never a pass) and the broken
categories (`infra-error`, `config-error`) give no verdict at all. A backward move is a
regression unless the head's own reruns in its run found it flaky (`--rerun-on-move`:
status `failed:flaky`); a gate that alternated in the history is named, never an exemption.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from harness.gates import BROKEN, LADDER, NO_DATA
from harness.history.ledger import CLASS_KEYS, Row, on_place

# The status the rerun rule gives a move it judged flaky (harness.history.flake).
FLAKY_STATUS = "failed:flaky"
Move = Literal["forward", "backward", "same", "broken", "new", "missing", "not-comparable"]


def rank(gate: str, reason: str = "") -> float | None:
    """Ladder position; broken runs have none.

    `no-data` sits just below the gate that lacked evidence (its reason starts with that
    gate's name): the run got past the gates before it but proved nothing at that one.
    Without a named gate it ranks below the whole ladder.
    """
    if gate in LADDER:
        return float(LADDER.index(gate))
    if gate == NO_DATA:
        lacking = reason.split(":", 1)[0].strip()
        return LADDER.index(lacking) - 0.5 if lacking in LADDER else -1.0
    return None


def why_not_comparable(a: Row, b: Row) -> str | None:
    """Why two rows are in different provenance classes, or None when they compare.

    A hash a run never reached (None: it stopped before loading the clip)
    does not count as a difference; two known, different hashes do.
    """
    diffs = [
        f"{k} {str(getattr(a, k))[:12]} != {str(getattr(b, k))[:12]}"
        for k in CLASS_KEYS
        if getattr(a, k) and getattr(b, k) and getattr(a, k) != getattr(b, k)
    ]
    return "; ".join(diffs) or None


def label(scenario: str, device: str | None) -> str:
    """The scenario, and the board when it ran on a farm place (`board-1/cpu`)."""
    return f"{scenario} @ {device}" if device and "/" in device else scenario


@dataclass(frozen=True)
class Transition:
    scenario: str
    before: Row | None
    after: Row | None
    move: Move
    note: str = ""
    flaky: bool = False
    deltas: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def device(self) -> str | None:
        """The device of the pair; a farm board's `place/accelerator` from either side (a
        head that broke before its record knows only the place)."""
        devices = [r.device for r in (self.after, self.before) if r is not None and r.device]
        return next((d for d in devices if "/" in d), devices[0] if devices else None)

    @property
    def label(self) -> str:
        return label(self.scenario, self.device)

    @property
    def regressed(self) -> bool:
        return self.move == "backward" and not self.flaky

    @property
    def moved(self) -> bool:
        return self.move in ("forward", "backward")


def flaky_groups(history: Iterable[Row]) -> dict[tuple, str]:
    """(scenario, identity) whose gate differed between runs of that identity -> why."""
    groups: dict[tuple, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for row in history:
        if row.gate not in BROKEN:
            groups[(row.scenario, row.identity)][row.gate].add(row.run_id)
    out: dict[tuple, str] = {}
    for key, gates in groups.items():
        if len(gates) > 1:
            runs = sum(len(r) for r in gates.values())
            seen = ", ".join(sorted(gates, key=lambda g: rank(g) or 0))
            out[key] = f"gates {seen} under identical provenance ({runs} runs)"
    return out


def flaky_scenarios(history: Iterable[Row]) -> dict[str, str]:
    """Scenarios whose gate alternated under some identical provenance -> why."""
    return {scenario: why for (scenario, _), why in flaky_groups(history).items()}


def metric_deltas(a: Row, b: Row) -> dict[str, tuple[float, float]]:
    """Metrics present in both rows whose value changed: name -> (before, after)."""
    return {
        k: (a.metrics[k], b.metrics[k])
        for k in sorted(a.metrics.keys() & b.metrics.keys())
        if a.metrics[k] != b.metrics[k]
    }


def transition(before: Row | None, after: Row | None, flaky: dict[tuple, str]) -> Transition:
    """How one scenario moved from `before` (baseline) to `after` (head)."""
    name = (after or before).scenario  # type: ignore[union-attr]
    if before is None:
        return Transition(name, None, after, "new", "no baseline row")
    if after is None:
        return Transition(name, before, None, "missing", "not run in the head run")
    if after.gate in BROKEN or before.gate in BROKEN:
        side = "head" if after.gate in BROKEN else "baseline"
        row = after if after.gate in BROKEN else before
        return Transition(name, before, after, "broken", f"{side} {row.gate}: {row.reason[:120]}")
    if why := why_not_comparable(before, after):
        return Transition(name, before, after, "not-comparable", why)
    ra, rb = rank(before.gate, before.reason), rank(after.gate, after.reason)
    move: Move = "same" if ra == rb else ("forward" if rb > ra else "backward")  # type: ignore[operator]
    deltas = metric_deltas(before, after)
    # Only the head's own reruns in this run exempt a move (the rerun rule said "flaky": the
    # baseline moved as often); an alternation in the history is named, never an excuse.
    is_flaky = move != "same" and (after.status or "") == FLAKY_STATUS
    seen = flaky.get((name, after.identity)) or flaky.get((name, before.identity))
    notes = [
        f"flaky: {after.reason.rsplit('[', 1)[-1].rstrip(']')}" if is_flaky else "",
        f"alternated before ({seen}), not an exemption" if seen and not is_flaky else "",
        model_change(before, after),
    ]
    return Transition(name, before, after, move, "; ".join(n for n in notes if n), is_flaky, deltas)


def model_change(a: Row, b: Row) -> str:
    """A note when the two runs used different checkpoints (a likely cause of a move)."""
    ka, kb = a.checkpoint_sha256, b.checkpoint_sha256
    if ka == kb:
        return ""
    return f"checkpoint {(ka or 'none')[:12]} -> {(kb or 'none')[:12]}"


def compare(base: list[Row], head: list[Row], history: Iterable[Row] = ()) -> list[Transition]:
    """Every scenario of either run, matched by name and device (like with like: a board's
    row is compared with that board's); `history` feeds flaky detection."""
    flaky = flaky_groups([*history, *base, *head])
    by_base = {(r.scenario, r.device or ""): r for r in base}
    by_head = {(r.scenario, r.device or ""): r for r in head}
    _pair_unknown_devices(by_base, by_head)
    _pair_unknown_devices(by_head, by_base)
    keys = sorted(by_base.keys() | by_head.keys())
    return [transition(by_base.get(k), by_head.get(k), flaky) for k in keys]


def _pair_unknown_devices(rows: dict[tuple[str, str], Row], other: dict) -> None:
    """A run that broke before it reached a device records none (or, on a farm, only its
    place): compare it with the other run's row of that scenario there when there is
    exactly one (else it stays unpaired: new on one side, missing on the other)."""
    for scenario, device in [k for k in rows if "/" not in k[1] and k not in other]:
        there = [
            k
            for k in other
            if k[0] == scenario and k not in rows and (not device or on_place(k[1], device))
        ]
        if len(there) == 1:
            rows[there[0]] = rows.pop((scenario, device))
