"""The PNG beside the `lstmlab inspect` page: a heat map of the chosen units' gates over
the text, under a strip of the model's surprise. Also the signals' short names and colour
ranges that the page (page.py) shares with it, read from the cell's declaration (cells.py)."""

from __future__ import annotations

import io
import warnings
from typing import Optional, Sequence

import numpy as np

from ..cells import cell_class
from .inspection import Inspection

def short_name(cell: str, signal: str) -> str:
    """The letter shown beside a signal's name, as the cell declares it (cells.Signal)."""
    return cell_class(cell).signal(signal).short


def signal_range(cell: str, signal: str) -> str:
    """How a signal's values map onto the colour scale: "sigmoid" (0..1), "tanh" (-1..1) or "cell" (unbounded)."""
    return cell_class(cell).signal(signal).scale


def display_char(ch: str) -> str:
    """How a character is drawn: newline, space, tab and control characters as visible symbols."""
    if ch == "\n":
        return "↵"
    if ch == " ":
        return "␣"
    if ch == "\t":
        return "⇥"
    if ord(ch) < 32:
        return chr(0x2400 + ord(ch))
    return ch


def display_label(inspection: Inspection) -> list[str]:
    """Each position's label under the heat map: its character, or its word (a line end as ↵)."""
    if inspection.tokens is None:
        return [display_char(ch) for ch in inspection.text]
    return [display_char(piece) if piece == "\n" else token for token, piece in zip(inspection.tokens, inspection.pieces)]


def _normalised(values: np.ndarray, scale_kind: str, scale: float) -> np.ndarray:
    """Values mapped to -1 ... 1 the way the page colours them; scale_kind from signal_range."""
    kind = scale_kind
    if kind == "sigmoid":
        return 2 * values - 1
    if kind == "cell":
        return values / scale if scale > 0 else values * 0
    return values


def cell_scale(values: np.ndarray) -> float:
    """The colour scale of a unit's cell state: its largest |c| over the text (at least 1)."""
    return float(max(1.0, np.abs(values).max())) if len(values) else 1.0


def render_heatmap(inspection: Inspection, layer: int, units: Sequence[int], title: Optional[str] = None) -> bytes:
    """A heat map per chosen unit (rows: its gates, columns: the characters or words) under a
    strip of the model's surprise. Colours as on the page (blue low, red high)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import colors

    T = len(inspection)
    names = list(inspection.gates[layer])
    cmap = plt.get_cmap("RdBu_r")
    n = len(units)
    words = inspection.tokens is not None
    width = float(np.clip(2.2 + (0.2 if words else 0.11) * T, 8, 24))
    heights = [1.1] + [0.24 * len(names) + 0.15] * n
    fig, axes = plt.subplots(n + 1, 1, figsize=(width, sum(heights) + 1.0), dpi=100, sharex=True, layout="constrained",
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    axes = axes[:, 0]
    x = np.arange(T)
    surprise = inspection.surprise_bits
    axes[0].bar(x, surprise, width=1.0, color="#7b3294", alpha=0.8)
    axes[0].set_ylabel("surprise\n(bits)", fontsize=8)
    axes[0].set_ylim(0, max(1.0, float(surprise.max()) * 1.1))
    axes[0].tick_params(labelsize=7)
    axes[0].grid(axis="y", alpha=0.3)
    for ax, unit in zip(axes[1:], units):
        rows = []
        for name in names:
            values = inspection.gates[layer][name][:, unit]
            rows.append(_normalised(values, signal_range(inspection.cell, name), cell_scale(values)))
        ax.imshow(cmap((np.array(rows) + 1) / 2), aspect="auto", interpolation="nearest",
                  extent=(-0.5, T - 0.5, len(names) - 0.5, -0.5))
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels([short_name(inspection.cell, name) for name in names], fontsize=7, family="monospace")
        ax.set_ylabel(f"unit {unit}", fontsize=8, rotation=0, ha="right", va="center")
    last = axes[-1]
    note = "colours: gates (f i o r z) 0 blue … 1 red;  g, n, h: −1 … +1;  c: ± its largest |c| in the text"
    if T <= 160:
        last.set_xticks(x)
        last.set_xticklabels(display_label(inspection), fontsize=7, family="monospace",
                             **({"rotation": 90} if words else {}))
        last.set_xlabel(note, fontsize=7, color="#555555")
    else:
        last.set_xlabel(f"{inspection.noun} position;  " + note, fontsize=7, color="#555555")
    last.set_xlim(-0.5, T - 0.5)
    fig.suptitle(title or f"layer {layer}: gates of units {', '.join(map(str, units))} over the text",
                 fontsize=10)
    bar = fig.colorbar(plt.cm.ScalarMappable(norm=colors.Normalize(-1, 1), cmap=cmap), ax=list(axes),
                       fraction=0.02, pad=0.01, ticks=[-1, 0, 1])
    bar.ax.set_yticklabels(["low", "mid", "high"], fontsize=7)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # a glyph the font lacks draws as a box; that is fine here
        warnings.simplefilter("ignore")
        fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
