"""The loss-curve PNG written at the end of training (language models and classifiers)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed: we only write files
import matplotlib.pyplot as plt  # noqa: E402


def plot_losses(metrics: list[dict], out: Path, unit: str = "char") -> None:
    """Training and validation loss by step, plus validation accuracy on a
    second axis when the metrics have it (classifiers). Written atomically."""
    train = [(m["step"], m["train_loss"]) for m in metrics if m.get("train_loss") is not None]
    val = [(m["step"], m["val_loss"]) for m in metrics if m.get("val_loss") is not None]
    acc = [(m["step"], m["val_accuracy"]) for m in metrics if m.get("val_accuracy") is not None]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        ax.plot(*zip(*train), label="train loss (mean since last evaluation)")
    if val:
        ax.plot(*zip(*val), marker="o", markersize=3, label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss (nats/{unit})" if unit else "cross-entropy (nats)")
    ax.grid(alpha=0.3)
    if acc:
        twin = ax.twinx()
        twin.plot(*zip(*acc), color="tab:green", marker="s", markersize=3, label="validation accuracy")
        twin.set_ylabel("accuracy")
        lines, labels = ax.get_legend_handles_labels()
        more_lines, more_labels = twin.get_legend_handles_labels()
        ax.legend(lines + more_lines, labels + more_labels, fontsize=8, loc="center right")
    else:
        ax.legend()
    fig.tight_layout()
    tmp = Path(out).with_name(Path(out).stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out)
