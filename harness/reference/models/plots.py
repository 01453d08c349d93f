"""Training curves (triplet loss and training recall@1 per epoch) as one PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot_history(loss: list[float], recall_at_1: list[float], out: Path, title: str = "") -> Path:
    fig, (ax_l, ax_r) = plt.subplots(1, 2, figsize=(9, 3.4))
    epochs = range(1, len(loss) + 1)
    ax_l.plot(epochs, loss, marker="o")
    ax_l.set_xlabel("epoch")
    ax_l.set_ylabel("triplet loss")
    ax_r.plot(epochs, recall_at_1, marker="o", color="tab:green")
    ax_r.set_xlabel("epoch")
    ax_r.set_ylabel("training recall@1")
    ax_r.set_ylim(0, 1)
    for ax in (ax_l, ax_r):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
