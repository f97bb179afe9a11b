"""The loss-curve PNG written at the end of training."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed: we only write files
import matplotlib.pyplot as plt  # noqa: E402


def plot_losses(metrics: list[dict], out: Path, unit: str = "char") -> None:
    train = [(m["step"], m["train_loss"]) for m in metrics if m.get("train_loss") is not None]
    val = [(m["step"], m["val_loss"]) for m in metrics if m.get("val_loss") is not None]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        ax.plot(*zip(*train), label="train (mean since last evaluation)")
    if val:
        ax.plot(*zip(*val), marker="o", markersize=3, label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss (nats/{unit})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = Path(out).with_name(Path(out).stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out)
