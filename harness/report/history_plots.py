"""A scenario's gate and key metrics over the ledger's runs, as one PNG."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from harness.gates import LADDER, NO_DATA
from harness.history.ledger import Row
from harness.history.transitions import rank


def plot_history(rows: list[Row], out: Path, metrics: int = 3, flaky: str | None = None) -> Path:
    """Gate reached per run (ladder position) above the most-varying key metrics."""
    names = _varying_metrics(rows)[:metrics]
    fig = Figure(figsize=(8, 2.6 + 1.8 * len(names)))
    axes = fig.subplots(1 + len(names), 1, sharex=True, squeeze=False)[:, 0].tolist()
    x = list(range(len(rows)))
    y = [rank(r.gate, r.reason) for r in rows]
    y = [-2.0 if v is None else v for v in y]
    ax = axes[0]
    ax.step(x, y, where="mid", color="0.6")
    for xi, yi, r in zip(x, y, rows, strict=True):
        ax.plot(xi, yi, "o", color="tab:red" if r.gate not in LADDER else "tab:blue")
    ax.set_yticks([-2, -1, *range(len(LADDER))], ["broken", NO_DATA, *LADDER], fontsize=8)
    title = f"{rows[0].scenario}: gate reached over {len(rows)} runs" if rows else "no runs"
    ax.set_title(title + (f" (FLAKY: {flaky})" if flaky else ""), fontsize=9)
    ax.grid(alpha=0.3)
    for ax, name in zip(axes[1:], names, strict=True):
        ax.plot(x, [r.metrics.get(name, float("nan")) for r in rows], "o-")
        ax.set_ylabel(name, fontsize=7)
        ax.grid(alpha=0.3)
    axes[-1].set_xticks(
        x, [f"{r.run_id[-12:]}\n{(r.git_sha or '?')[:7]}" for r in rows], fontsize=6, rotation=30
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    return out


def _varying_metrics(rows: list[Row]) -> list[str]:
    values: dict[str, set[float]] = {}
    for r in rows:
        for k, v in r.metrics.items():
            values.setdefault(k, set()).add(v)
    return sorted(values, key=lambda k: (-len(values[k]), k))
