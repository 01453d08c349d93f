"""The README's table of what `pytest scenarios/` shows, made from a session's verdicts.jsonl.

The plugin writes one line per scenario to `reports/runs/<session>/verdicts.jsonl`;
`harness report table --write README.md` puts the table between the README's markers and
`--check README.md` (run by CI after `pytest scenarios/`) fails when a scenario's status, gate
or trigger (what the reason says stopped it, without its figures: `D1`, `D6`, `recall@1
(footprint)`, `exists failed`; harness.gates.expectation.trigger) differs from the table, so
the README cannot drift from what the suite shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.gates.expectation import trigger
from harness.scenario.load import SCENARIO_SUFFIX, project_root

BEGIN = "<!-- scenario-table: made by `harness report table --write README.md` from a run -->"
END = "<!-- /scenario-table -->"
STATUS_WORDS = {
    "passed": "PASS",
    "xfailed": "XFAIL",
    "skipped": "SKIP",
    "failed": "FAIL",
    "broken": "ERROR",
}
REASON_CHARS = 72


class TableError(HarnessError):
    """A session, a scenario folder or a README table that cannot be compared."""


@dataclass(frozen=True)
class Line:
    scenario: str  # path under the scenarios folder, without the suffix: vpr/derkachi-scaffold
    status: str  # PASS | XFAIL | SKIP | FAIL | ERROR
    gate: str
    reason: str = ""


def session_file(runs: Path, session: str | None = None) -> Path:
    """The named session's verdicts.jsonl, or the newest one under `runs`."""
    if session:
        path = runs / session / "verdicts.jsonl"
        if not path.is_file():
            raise TableError(f"{path}: no such session; list {runs} for the session ids")
        return path
    found = sorted(runs.glob("*/verdicts.jsonl"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise TableError(f"no session under {runs}; run `pytest scenarios/` first")
    return found[-1]


def scenario_names(scenarios: Path) -> list[str]:
    return sorted(
        str(p.relative_to(scenarios)).removesuffix(SCENARIO_SUFFIX)
        for p in scenarios.rglob(f"*{SCENARIO_SUFFIX}")
    )


def lines_from_run(verdicts: Path, scenarios: Path) -> list[Line]:
    """One line per scenario file under `scenarios`; every one must be in the session."""
    root = scenarios.resolve()
    project = project_root(root)
    by_name: dict[str, Line] = {}
    ran: set[str] = set()
    for text in verdicts.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(text)
        except json.JSONDecodeError:
            continue  # a torn last line from a killed worker
        path = Path(row["scenario"]).resolve()
        if not path.is_relative_to(root):
            continue
        if "status" not in row:
            raise TableError(f"{verdicts}: written by an older harness (no status); rerun")
        name = str(path.relative_to(root)).removesuffix(SCENARIO_SUFFIX)
        status = STATUS_WORDS.get(row["status"], row["status"].upper())
        # Paths in reasons are the runner's absolute ones: shown relative to the project.
        reason = row.get("reason", "").replace(f"{project}/", "")
        ran.add(name)
        if row.get("device"):  # a farm session: one line per board
            name = f"{name} @ {row['device']}"
        by_name[name] = Line(name, status, row["gate"], reason)
    missing = [n for n in scenario_names(scenarios) if n not in ran]
    if missing:
        raise TableError(
            f"{verdicts}: the session did not run {', '.join(missing)}; "
            f"run all of `pytest {scenarios}` for the table"
        )
    return [by_name[n] for n in sorted(by_name)]


def shown(reason: str) -> str:
    """A reason as the table shows it: one line, cut to REASON_CHARS."""
    reason = " ".join(reason.split())
    return reason[: REASON_CHARS - 1] + "…" if len(reason) > REASON_CHARS else reason


def render(lines: list[Line]) -> str:
    """The table as an indented block (one scenario a line), between the markers."""
    width = max((len(x.scenario) for x in lines), default=0)
    body = []
    for x in lines:
        reason = shown(x.reason)
        body.append(f"    {x.scenario:<{width}}  {x.status:<5}  {x.gate:<17}  {reason}".rstrip())
    return "\n".join([BEGIN, "", *body, "", END])


def _block(text: str, where: Path) -> tuple[int, int]:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise TableError(
            f"{where}: no scenario table; put the two marker lines {BEGIN!r} and {END!r} "
            "where it belongs, then run `harness report table --write`"
        )
    return start, end + len(END)


def parse(text: str, where: Path) -> list[Line]:
    """The lines of the table in a README."""
    start, end = _block(text, where)
    lines = []
    for raw in text[start:end].splitlines()[1:-1]:
        parts = raw.split(None, 3)
        if len(parts) >= 3:
            lines.append(Line(parts[0], parts[1], parts[2], parts[3] if len(parts) > 3 else ""))
    return lines


def write(readme: Path, lines: list[Line]) -> None:
    text = readme.read_text(encoding="utf-8")
    start, end = _block(text, readme)
    readme.write_text(text[:start] + render(lines) + text[end:], encoding="utf-8")


def differences(table: list[Line], run: list[Line]) -> list[str]:
    """Where the README's table and the run disagree on a scenario's status, gate or trigger
    (both read from the reason as the table shows it)."""
    in_table = {x.scenario: x for x in table}
    seen = {x.scenario: x for x in run}
    out = [f"{n}: in the table, not in the run" for n in sorted(in_table.keys() - seen.keys())]
    out += [f"{n}: in the run, not in the table" for n in sorted(seen.keys() - in_table.keys())]
    for name in sorted(in_table.keys() & seen.keys()):
        a, b = in_table[name], seen[name]
        was, now = trigger(shown(a.reason)), trigger(shown(b.reason))
        if (a.status, a.gate, was) != (b.status, b.gate, now):
            out.append(
                f"{name}: the table says {a.status} {a.gate} ({was!r}), "
                f"the run {b.status} {b.gate} ({now!r})"
            )
    return out
