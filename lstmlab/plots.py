"""PNGs written by training runs: loss curves (every task) and forecasts (forecasting runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

import matplotlib

matplotlib.use("Agg")  # no display needed: we only write files
import matplotlib.pyplot as plt  # noqa: E402


def plot_losses(metrics: list[dict], out: Path, ylabel: str = "loss (nats)") -> None:
    """Training and validation loss by step, plus validation accuracy on a
    second axis when the metrics have it (classifiers). Written atomically."""
    # Runs record the training loss every few steps (rows without validation scores);
    # runs made before that have it only in the validation rows, averaged since the last one.
    frequent = [(m["step"], m["train_loss"]) for m in metrics
                if m.get("train_loss") is not None and "val_loss" not in m]
    train = frequent or [(m["step"], m["train_loss"]) for m in metrics if m.get("train_loss") is not None]
    train_label = "train loss (mean of the last few steps)" if frequent else "train loss (mean since last evaluation)"
    val = [(m["step"], m["val_loss"]) for m in metrics if m.get("val_loss") is not None]
    acc = [(m["step"], m["val_accuracy"]) for m in metrics if m.get("val_accuracy") is not None]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        ax.plot(*zip(*train), linewidth=1, label=train_label)
    if val:
        ax.plot(*zip(*val), marker="o", markersize=3, label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
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
    _save(fig, out)


def plot_backtest(index, series: np.ndarray, forecasts: dict[str, np.ndarray], origins: list[int], horizon: int,
                  out: Path, title: str, history: int,
                  bands: Optional[tuple[np.ndarray, np.ndarray, str]] = None) -> None:
    """The last `history` points of the series and, from non-overlapping backtest origins,
    each method's forecast (method -> (O, H) over `origins`, which index into the series),
    and, when given, the first method's interval (lower (O, H), upper (O, H), label)."""
    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    start = max(0, origins[0] - history)
    ax.plot(index[start:], series[start:], color="black", linewidth=1.2, label="actual")
    shown = list(range(len(origins)))[::-1][::horizon][::-1]  # the last origin, and every horizon-th before it
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, (name, rows) in zip(colours, forecasts.items()):
        for k, i in enumerate(shown):
            o = origins[i]
            ax.plot(index[o:o + horizon], rows[i], color=colour, linewidth=1.5,
                    linestyle="-" if name == next(iter(forecasts)) else "--", label=name if k == 0 else None)
    if bands is not None:
        lower, upper, label = bands
        for k, i in enumerate(shown):
            o = origins[i]
            ax.fill_between(index[o:o + horizon], lower[i], upper[i], color=colours[0], alpha=0.2,
                            label=label if k == 0 else None)
    ax.axvline(index[origins[0]], color="grey", linewidth=0.8, linestyle=":")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    _save(fig, out)


def plot_forecast(index, series: np.ndarray, future, forecast: np.ndarray, lower: Optional[np.ndarray],
                  upper: Optional[np.ndarray], out: Path, title: str, interval: float, history: int) -> None:
    """The last `history` points of the series, the forecast after them, and its interval when given."""
    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    ax.plot(index[-history:], series[-history:], color="black", linewidth=1.2, label="history")
    ax.plot(future, forecast, color="tab:blue", linewidth=1.5, label="forecast")
    if lower is not None and upper is not None and np.isfinite(lower).any():
        ax.fill_between(future, lower, upper, color="tab:blue", alpha=0.2, label=f"{interval:.0%} interval")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    _save(fig, out)


def _save(fig, out: Path) -> None:
    """Write atomically: a crash mid-write leaves the previous PNG whole."""
    fig.tight_layout()
    tmp = Path(out).with_name(Path(out).stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out)
