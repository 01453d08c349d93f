"""Pictures of one run, made from its record (and the VPR stage's thumbnails) into its folder.

eskf.png: horizontal error with the 3-sigma envelope, NEES and NIS against chi-square bounds,
heading error with its 3-sigma envelope, and the track with accepted and rejected fixes and
position resets. vpr_mosaic.png: query frames beside their
top-3 tiles (green hit, red miss). vpr_recall.png: recall@N. sweep.png (a throughput
sweep): p50 and p95 latency and the fraction of frames answered late or never against the
replay rate, per stage, with the deadline, the bound and the sustained rate.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness import atomic
from harness.gates.eskf import heading_error_deg
from harness.gates.result import spec_of
from harness.gates.retrieval import RetrievalQualitySpec, is_hit
from harness.gates.sweep import Sustained, SweepSpec, not_replayed, sweeps_of
from harness.gates.sweep import spec_in as sweep_spec
from harness.gates.truth import TruthTrack
from harness.record import Record

if TYPE_CHECKING:
    from matplotlib.figure import Figure

THUMBS = "vpr_thumbs.npz"
CHI2_2 = (0.0506, 7.378)  # chi2(2) two-sided 95 %


def _pyplot():
    """pyplot on the Agg backend, imported with the first picture: a run with nothing to draw
    (one that stopped at provisioning) costs its figure helper no matplotlib import (~2 s)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def make_run_figures(record: Record, out_dir: Path) -> list[Path]:
    made = []
    truth = TruthTrack.of(record)
    if list(record.select("eskf", "state")):
        made.append(_eskf(record, truth, out_dir / "eskf.png"))
    queries = [q for q in record.select("vpr", "query") if q.get("topk")]
    if queries and truth is not None:
        at = truth.position_ne(np.array([q["t_s"] for q in queries]))
        queries = [
            {**q, "truth_ne_m": p} for q, p in zip(queries, at, strict=True) if np.isfinite(p).all()
        ]
    if queries and truth is not None:
        spec = spec_of(record, "retrieval_quality", RetrievalQualitySpec)
        made.append(_recall(queries, spec, out_dir / "vpr_recall.png"))
        if (out_dir / THUMBS).exists():
            made.append(_mosaic(queries, spec, out_dir / THUMBS, out_dir / "vpr_mosaic.png"))
    if (spec := sweep_spec(record)) is not None and list(record.select("sweep", "step")):
        skipped = not_replayed(record)
        made.append(_sweep(sweeps_of(record, spec), spec, skipped, out_dir / "sweep.png"))
    return made


def _sweep(sweeps: list[Sustained], spec: SweepSpec, skipped: list[float], path: Path) -> Path:
    fig, (lat, miss) = _pyplot().subplots(1, 2, figsize=(10, 3.6))
    for n, s in enumerate(sweeps):
        color = f"C{n}"
        speed = np.array([st.speed for st in s.steps], dtype=float)

        def values(key: str, steps: list = s.steps) -> np.ndarray:
            return np.array([np.nan if (v := getattr(st, key)) is None else v for st in steps])

        lat.plot(speed, values("p50_ms"), "o-", color=color, label=f"{s.stage} p50")
        lat.plot(speed, values("p95_ms"), "s--", color=color, label=f"{s.stage} p95")
        miss.plot(speed, values("miss_fraction"), "o-", color=color, label=s.stage)
        if s.held:
            for ax in (lat, miss):
                ax.axvline(s.speed, color=color, ls=":", lw=1)
    deadline = [
        1e3 / st.query_hz if spec.deadline_ms is None else spec.deadline_ms
        for st in sweeps[0].steps
    ] if sweeps else []  # fmt: skip
    if deadline:
        lat.plot([st.speed for st in sweeps[0].steps], deadline, "k:", label="deadline")
    miss.axhline(spec.max_miss_fraction, color="r", ls="--", label="bound")
    lat.set(xscale="log", yscale="log", xlabel="speed (x real time)", ylabel="ms",
            title="latency from the frame's due time")  # fmt: skip
    title = "frames late or never (dotted: sustained)"
    if skipped:
        title += f"\nnot replayed (settled below): {', '.join(f'x{v:g}' for v in skipped)}"
    miss.set(xscale="log", xlabel="speed (x real time)", ylim=(-0.02, 1.02), title=title)
    speeds = sorted({st.speed for s in sweeps for st in s.steps if np.isfinite(st.speed)})
    for ax in (lat, miss):
        ax.set_xticks(speeds, [f"x{v:g}" for v in speeds])
        ax.minorticks_off()
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def _eskf(record: Record, truth: TruthTrack | None, path: Path) -> Path:
    states = list(record.select("eskf", "state")) if truth is not None else []
    fixes = list(record.select("eskf", "fix"))
    resets = list(record.select("eskf", "reset"))
    fig, grid = _pyplot().subplots(2, 2, figsize=(12, 8))
    ax = [grid[0, 0], grid[0, 1], grid[1, 1], grid[1, 0]]  # error, NEES/NIS, track, heading
    if states:
        t = np.array([s["t_s"] for s in states])
        truth_ne = truth.position_ne(t)
        e = np.array([s["p_ned_m"][:2] for s in states], dtype=float) - truth_ne
        eph = np.array([s["eph_m"] for s in states])
        ax[0].plot(t, np.linalg.norm(e, axis=1), label="|error|")
        ax[0].plot(t, 3 * eph / np.sqrt(2), "--", label="3 sigma (per axis)")
        nees = [
            float(ei @ np.linalg.solve(np.asarray(s["P_hh"]), ei))
            for ei, s in zip(e, states, strict=True)
        ]
        ax[1].semilogy(t, np.maximum(nees, 1e-4), ".", ms=2, label="NEES (h)")
        est = np.array([s["p_ned_m"][:2] for s in states], dtype=float)
        ax[2].plot(truth_ne[:, 1], truth_ne[:, 0], "k-", lw=1, label="truth")
        ax[2].plot(est[:, 1], est[:, 0], "b-", lw=1, label="estimate")
        q = np.array([s["q_wxyz"] for s in states], dtype=float)
        ax[3].plot(t, heading_error_deg(q, truth.attitude(t)), label="heading error")
        three = 3 * np.array([s["sigma_yaw_deg"] for s in states], dtype=float)
        ax[3].plot(t, three, "--", color="C1", label="+-3 sigma")
        ax[3].plot(t, -three, "--", color="C1")
    nis = [(f["t_s"], f["nis"]) for f in fixes if f.get("nis") is not None]
    if nis:
        ax[1].semilogy(*zip(*nis, strict=True), "o", ms=3, label="NIS (fixes)")
    for lo_hi in CHI2_2:
        ax[1].axhline(lo_hi, color="grey", ls=":")
    for accepted, style in ((True, "g."), (False, "rx")):
        pts = np.array(
            [f["z_ne_m"] for f in fixes if f["accepted"] == accepted and None not in f["z_ne_m"]]
        ).reshape(-1, 2)
        ax[2].plot(pts[:, 1], pts[:, 0], style, label="accepted" if accepted else "rejected")
    for r in resets:
        (n0, e0), (n1, e1) = r["from_ne_m"], r["to_ne_m"]
        ax[2].annotate("", (e1, n1), (e0, n0), arrowprops={"arrowstyle": "->", "color": "m"})
    if resets:
        ax[2].plot([], [], "m-", label="position reset")
    ax[0].set(title="horizontal error", xlabel="t [s]", ylabel="m")
    ax[1].set(title="NEES / NIS, chi2(2) 95 %", xlabel="t [s]")
    ax[2].set(title="track and fixes", xlabel="east [m]", ylabel="north [m]", aspect="equal")
    ax[3].set(title="heading error", xlabel="t [s]", ylabel="deg")
    for a in ax:
        a.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def _recall(queries: list[dict], spec: RetrievalQualitySpec, path: Path) -> Path:
    depth = max(len(q["topk"]) for q in queries)
    ns = np.arange(1, depth + 1)
    recall = [
        np.mean(
            [
                any(is_hit(h, np.asarray(q["truth_ne_m"]), spec) for h in q["topk"][:n])
                for q in queries
            ]
        )
        for n in ns
    ]
    fig, ax = _pyplot().subplots(figsize=(4.5, 3.2))
    ax.plot(ns, recall, "o-")
    ax.axhline(spec.min_recall, color="r", ls="--", label=f"bar at N={spec.recall_at}")
    ax.set(xlabel="N", ylabel="recall@N", ylim=(0, 1.02), title=f"recall@N ({spec.hit_rule})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def _mosaic(queries: list[dict], spec: RetrievalQualitySpec, thumbs: Path, path: Path) -> Path:
    data = np.load(thumbs)
    frames, tiles = data["frames"], data["tiles"]  # (Q, h, w, 3), (Q, 3, h, w, 3)
    rows = min(len(frames), 8)
    pick = np.linspace(0, len(frames) - 1, rows).astype(int)
    fig, ax = _pyplot().subplots(rows, 4, figsize=(6, 1.6 * rows), squeeze=False)
    for r, qi in enumerate(pick):
        q = queries[qi]
        ax[r, 0].imshow(frames[qi])
        ax[r, 0].set_title(f"t={q['t_s']:.0f}s", fontsize=6)
        for c in range(3):
            ax[r, c + 1].imshow(tiles[qi, c])
            hit = c < len(q["topk"]) and is_hit(q["topk"][c], np.asarray(q["truth_ne_m"]), spec)
            for side in ax[r, c + 1].spines.values():
                side.set(color="g" if hit else "r", linewidth=3)
        for a in ax[r]:
            a.set_xticks([])
            a.set_yticks([])
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Figure, path: Path) -> Path:
    """Whole or absent: the Allure report may attach the run's PNGs while this one is drawn."""
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80)
    _pyplot().close(fig)
    return path
