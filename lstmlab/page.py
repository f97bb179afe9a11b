"""The `lstmlab inspect` page: one self-contained HTML file and a PNG.

Everything drawn here comes from an `Inspection` (inspection.py), i.e. from
`LanguageModel.inspect(text)`: the page never runs or recomputes the model.

    import lstmlab
    from lstmlab import page
    lm = lstmlab.load("runs/demo")
    inspection = lm.inspect('He said "hello (there)".\\nThen he left.')
    page.write_page(inspection, "hello.html", find=True)   # also writes hello.png

The HTML holds its CSS, its JavaScript, its data (one <script type="application/json">
tag) and the PNG (as a data: URL) inline, so it opens offline and can be mailed
around as one file. It asks for nothing over the network: no fonts, no scripts.

Gate values travel as base64 float32 arrays, one per (layer, signal), unit-major.
The model computes them in float32, so this loses nothing. A page shows at most
MAX_EMBEDDED_VALUES numbers (~10 MB): for big models on long texts only some
units are embedded (the chosen ones, the --find matches, then the chosen layer's
units in order) and the page says so.
"""

from __future__ import annotations

import base64
import html
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from .checkpoint import save_text_atomic, write_atomic
from .errors import LstmlabError
from .inspection import FEATURES, Inspection, UnitMatch, find_units

PathLike = Union[str, Path]

DEFAULT_MAX_CHARS = 5000
DEFAULT_UNIT_COUNT = 4
MAX_PANEL_UNITS = 16
MAX_EMBEDDED_VALUES = 2_000_000

SIGMOID_SIGNALS = ("forget", "input", "output", "reset", "update")  # 0 ... 1
TANH_SIGNALS = ("candidate", "hidden")  # -1 ... 1; "cell" is unbounded

# Shown beside each signal's name; GRU calls its candidate n (PyTorch's name).
SHORT_NAMES = {"forget": "f", "input": "i", "candidate": "g", "output": "o", "cell": "c", "hidden": "h",
               "reset": "r", "update": "z"}

_LSTM_EXPLAINED = {
    "forget": "how much of the old cell state is kept: 1 keeps all of the memory, 0 wipes it.",
    "input": "how much of the candidate is written into the cell at this character.",
    "candidate": "the new content proposed for the cell at this character.",
    "output": "how much of the cell the unit shows to the rest of the network.",
    "cell": "the unit's memory, c = f·c<sub>prev</sub> + i·g. It is not squashed, so it can grow past ±1 "
            "and carry something (an open quote, say) across many characters.",
    "hidden": "what the unit outputs, h = o·tanh(c): the next layer and the next-character prediction read this.",
}
EXPLANATIONS = {
    "lstm": _LSTM_EXPLAINED,
    "peephole": {**_LSTM_EXPLAINED, "forget": _LSTM_EXPLAINED["forget"] + " (Peephole cell: the gates also look at c.)"},
    "layernorm-lstm": {**_LSTM_EXPLAINED,
                       "hidden": "what the unit outputs, h = o·tanh(LN(c)) (the cell is layer-normalised first)."},
    "gru": {
        "reset": "how much of the previous hidden state the candidate may look at: 0 starts afresh.",
        "update": "how much of the previous hidden state is kept, h = (1 − z)·n + z·h<sub>prev</sub>: "
                  "1 keeps the old value, 0 takes the candidate.",
        "candidate": "the new value proposed from this character and the (reset) previous state.",
        "hidden": "the unit's state and output: the next layer and the prediction read this.",
    },
    "rnn": {"hidden": "a plain recurrent unit, h = tanh(W·x + U·h<sub>prev</sub> + b); it has no gates."},
}
SURPRISE_EXPLAINED = ("surprise = −log<sub>2</sub> p(character | everything before it), in bits. 0 bits: the "
                      "model was sure of this character; 1 bit: it gave it 50%; 7 bits: less than 1%.")


def short_name(cell: str, signal: str) -> str:
    return "n" if (cell == "gru" and signal == "candidate") else SHORT_NAMES.get(signal, signal)


def signal_range(signal: str) -> str:
    """How a signal's values map onto the colour scale: "sigmoid", "tanh" or "cell"."""
    return "sigmoid" if signal in SIGMOID_SIGNALS else "tanh" if signal in TANH_SIGNALS else "cell"


# ---------------------------------------------------------------------------
# Choosing what to show
# ---------------------------------------------------------------------------


@dataclass
class View:
    """Which layer, units and signal the page opens on."""

    layer: int
    units: list[int]  # shown in the gate panel and the PNG
    colour_unit: int
    colour_signal: str = "hidden"
    matches: list[UnitMatch] = field(default_factory=list)  # from find_units, best first within each feature
    searched: bool = False  # whether find_units ran (it may find nothing)

    @property
    def best_match(self) -> Optional[UnitMatch]:
        return max(self.matches, key=lambda m: abs(m.correlation)) if self.matches else None


def parse_units(text: Optional[str]) -> Optional[list[int]]:
    """"3,17,42" -> [3, 17, 42] (duplicates dropped); None stays None."""
    if text is None:
        return None
    try:
        units = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise LstmlabError(f"--units expects unit numbers separated by commas, like 3,17,42; got {text!r}") from None
    if not units:
        raise LstmlabError("--units is empty; give unit numbers separated by commas, like 3,17,42")
    return list(dict.fromkeys(units))


def choose_view(inspection: Inspection, layer: Optional[int] = None, units: Optional[Sequence[int]] = None,
                colour_unit: Optional[int] = None, colour_signal: Optional[str] = None, find: bool = False) -> View:
    """Fill in the defaults: the last layer, its first few units, colouring by the first.
    With find=True the units come from find_units, and the page opens on the best match
    (in `layer`, when one is given)."""
    n_layers = len(inspection.gates)
    if layer is not None:
        inspection.check_unit(layer, 0)  # a clear message for a layer that does not exist
    matches = find_units(inspection) if find else []
    ranked = sorted(matches, key=lambda m: -abs(m.correlation))
    if layer is None:
        layer = ranked[0].layer if ranked else n_layers - 1
    in_layer = [m for m in ranked if m.layer == layer]
    size = inspection.gates[layer]["hidden"].shape[1]
    if units is None:
        if in_layer:
            # The best unit for each feature (best features first), then the runners-up.
            firsts = {}
            for m in in_layer:
                firsts.setdefault(m.feature, m.unit)
            units = list(dict.fromkeys([*firsts.values(), *(m.unit for m in in_layer)]))[:DEFAULT_UNIT_COUNT]
        else:
            units = list(range(min(DEFAULT_UNIT_COUNT, size)))
    units = list(dict.fromkeys(int(u) for u in units))
    if not units:
        raise LstmlabError("give at least one unit to show, e.g. --units 0,1,2")
    if len(units) > MAX_PANEL_UNITS:
        raise LstmlabError(f"--units names {len(units)} units; show at most {MAX_PANEL_UNITS} at once "
                           "(run inspect again for others)")
    for unit in units:
        inspection.check_unit(layer, unit)
    best = in_layer[0] if in_layer else None
    if colour_unit is None:
        colour_unit = best.unit if best is not None else units[0]
    inspection.check_unit(layer, colour_unit)
    if colour_signal is None:
        colour_signal = best.signal if best is not None and best.unit == colour_unit else "hidden"
    if colour_signal != "surprise" and colour_signal not in inspection.gates[layer]:
        raise LstmlabError(f"a {inspection.cell} layer has no signal {colour_signal!r}; choose one of "
                           f"{', '.join(inspection.gates[layer])} or surprise")
    return View(layer, units, colour_unit, colour_signal, matches, searched=find)


def check_length(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> None:
    if max_chars < 1:
        raise LstmlabError(f"--max-chars must be at least 1, got {max_chars}")
    if len(text) > max_chars:
        raise LstmlabError(
            f"the text has {len(text):,} characters, more than --max-chars {max_chars:,}: a page that long is slow "
            f"to read; cut it to a passage (e.g. head -c {max_chars} FILE > part.txt) or raise --max-chars")


def check_out_paths(out: PathLike, png: Optional[PathLike] = None) -> tuple[Path, Path]:
    """The page and PNG paths, checked before any work is done (folders are created)."""
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise LstmlabError(f"--out must name an .html file, got {str(out)!r}; e.g. --out {out.with_suffix('.html')}")
    png = out.with_suffix(".png") if png is None else Path(png)
    if png.suffix.lower() != ".png":
        raise LstmlabError(f"--png must name a .png file, got {str(png)!r}; e.g. --png {png.with_suffix('.png')}")
    for path, flag in ((out, "--out"), (png, "--png")):
        if path.is_dir():
            raise LstmlabError(f"{flag} {path} is a folder; give a file name such as {path / ('page' + out.suffix)}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LstmlabError(f"cannot create the folder for {flag} {path}: {e.strerror or e}; choose another {flag}") from None
        if not path.parent.is_dir():
            raise LstmlabError(f"cannot write {flag} {path}: {path.parent} is not a folder; choose another {flag}")
    return out, png


# ---------------------------------------------------------------------------
# The PNG
# ---------------------------------------------------------------------------


def _display_char(ch: str) -> str:
    if ch == "\n":
        return "↵"
    if ch == " ":
        return "␣"
    if ch == "\t":
        return "⇥"
    if ord(ch) < 32:
        return chr(0x2400 + ord(ch))
    return ch


def _normalised(values: np.ndarray, signal: str, scale: float) -> np.ndarray:
    """Values mapped to -1 ... 1 the way the page colours them."""
    kind = signal_range(signal)
    if kind == "sigmoid":
        return 2 * values - 1
    if kind == "cell":
        return values / scale if scale > 0 else values * 0
    return values


def cell_scale(values: np.ndarray) -> float:
    """The colour scale of a unit's cell state: its largest |c| over the text (at least 1)."""
    return float(max(1.0, np.abs(values).max())) if len(values) else 1.0


def render_png(inspection: Inspection, view: View, title: Optional[str] = None) -> bytes:
    """A heat map per chosen unit (rows: its gates, columns: the characters) under a
    strip of the model's surprise. Colours as on the page (blue low, red high)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import colors

    T = len(inspection)
    names = list(inspection.gates[view.layer])
    cmap = plt.get_cmap("RdBu_r")
    n = len(view.units)
    width = float(np.clip(2.2 + 0.11 * T, 8, 24))
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
    for ax, unit in zip(axes[1:], view.units):
        rows = []
        for name in names:
            values = inspection.gates[view.layer][name][:, unit]
            rows.append(_normalised(values, name, cell_scale(values)))
        ax.imshow(cmap((np.array(rows) + 1) / 2), aspect="auto", interpolation="nearest",
                  extent=(-0.5, T - 0.5, len(names) - 0.5, -0.5))
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels([short_name(inspection.cell, name) for name in names], fontsize=7, family="monospace")
        ax.set_ylabel(f"unit {unit}", fontsize=8, rotation=0, ha="right", va="center")
    last = axes[-1]
    note = "colours: gates (f i o r z) 0 blue … 1 red;  g, n, h: −1 … +1;  c: ± its largest |c| in the text"
    if T <= 160:
        last.set_xticks(x)
        last.set_xticklabels([_display_char(ch) for ch in inspection.text], fontsize=7, family="monospace")
        last.set_xlabel(note, fontsize=7, color="#555555")
    else:
        last.set_xlabel("character position;  " + note, fontsize=7, color="#555555")
    last.set_xlim(-0.5, T - 0.5)
    fig.suptitle(title or f"layer {view.layer}: gates of units {', '.join(map(str, view.units))} over the text",
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


# ---------------------------------------------------------------------------
# The HTML page
# ---------------------------------------------------------------------------


def _embedded_units(inspection: Inspection, view: View, budget: int) -> list[list[int]]:
    """Per layer, the units whose values go into the page: all when they fit `budget` numbers."""
    T = len(inspection)
    sizes = [g["hidden"].shape[1] for g in inspection.gates]
    chosen: list[dict[int, None]] = [{} for _ in sizes]
    used = 0

    def add(layer: int, unit: int, force: bool = False) -> bool:
        nonlocal used
        if unit in chosen[layer]:
            return True
        cost = T * len(inspection.gates[layer])
        if not force and used + cost > budget:
            return False
        chosen[layer][unit] = None
        used += cost
        return True

    for unit in [*view.units, view.colour_unit]:
        add(view.layer, unit, force=True)
    for match in view.matches:
        add(match.layer, match.unit, force=True)
    for layer in [view.layer, *(i for i in range(len(sizes)) if i != view.layer)]:
        for unit in range(sizes[layer]):
            if not add(layer, unit):
                break
    return [sorted(units) for units in chosen]


def _float32_base64(values: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype="<f4").tobytes()).decode("ascii")


def page_data(inspection: Inspection, view: View, title: str = "", budget: int = MAX_EMBEDDED_VALUES) -> dict:
    """Everything the page's script reads, as JSON-ready values."""
    T = len(inspection)
    embedded = _embedded_units(inspection, view, budget)
    layers = []
    for layer, gates in enumerate(inspection.gates):
        units = embedded[layer]
        size = gates["hidden"].shape[1]
        values = {name: _float32_base64(array[:, units].T) for name, array in gates.items()}
        scales = [round(cell_scale(gates["cell"][:, u]), 4) for u in units] if "cell" in gates else []
        panel = view.units if layer == view.layer else units[:DEFAULT_UNIT_COUNT]
        layers.append({"size": size, "signals": list(gates), "units": units, "values": values,
                       "cell_scale": scales, "panel_units": panel})
    top_ids = np.argsort(-inspection.probs, axis=1, kind="stable")[:, :5]  # as Inspection.top_predictions
    top_probs = np.take_along_axis(inspection.probs, top_ids, axis=1)
    actual = inspection.probs[np.arange(T), inspection.ids]
    return {
        "title": title,
        "cell": inspection.cell,
        "text": inspection.text,
        "unknown": [int(t) for t in np.flatnonzero(inspection.ids == 0)],
        "symbols": list(inspection.symbols),
        "surprise": [float(s) for s in inspection.surprise_bits],
        "actual_prob": [float(p) for p in actual],
        # Row t + 1 of probs: the guesses after reading character t (row 0: before any).
        "top_ids": top_ids.tolist(),
        "top_probs": top_probs.tolist(),
        "layers": layers,
        "short_names": {name: short_name(inspection.cell, name) for g in inspection.gates for name in g},
        "ranges": {name: signal_range(name) for g in inspection.gates for name in g},
        "initial": {"layer": view.layer, "unit": view.colour_unit, "signal": view.colour_signal,
                    "units": view.units, "position": 0},
        "matches": [{"feature": m.feature, "description": FEATURES.get(m.feature, m.feature), "layer": m.layer,
                     "unit": m.unit, "signal": m.signal, "r": m.correlation} for m in view.matches],
    }


def _json_for_script(data: dict) -> str:
    """JSON that cannot end its <script> tag early."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _char_spans(text: str, unknown: set[int]) -> str:
    parts = []
    for i, ch in enumerate(text):
        classes = "ch"
        if i in unknown:
            classes += " unk"
        if ch == "\n":
            parts.append(f'<span class="{classes} nl" data-i="{i}">↵</span><br>')
        elif ch == " ":
            parts.append(f'<span class="{classes} sp" data-i="{i}"> </span>')
        elif ch == "\t" or ord(ch) < 32:
            parts.append(f'<span class="{classes} ctl" data-i="{i}">{_display_char(ch)}</span>')
        else:
            parts.append(f'<span class="{classes}" data-i="{i}">{html.escape(ch)}</span>')
    return "".join(parts)


def _explanations(inspection: Inspection, layer: int) -> str:
    texts = EXPLANATIONS.get(inspection.cell, {})
    items = []
    for name in inspection.gates[layer]:
        kind = signal_range(name)
        span = {"sigmoid": "0 … 1", "tanh": "−1 … 1", "cell": "unbounded"}[kind]
        items.append(f"<dt><b>{short_name(inspection.cell, name)}</b> {html.escape(name)} <small>({span})</small></dt>"
                     f"<dd>{texts.get(name, '')}</dd>")
    items.append(f"<dt><b>bits</b> surprise</dt><dd>{SURPRISE_EXPLAINED}</dd>")
    return "<dl>" + "".join(items) + "</dl>"


def _find_table(view: View) -> str:
    if not view.matches:
        return ""
    rows = []
    for m in view.matches:
        rows.append(f'<tr data-layer="{m.layer}" data-unit="{m.unit}" data-signal="{m.signal}" tabindex="0">'
                    f"<td>{html.escape(FEATURES.get(m.feature, m.feature))}</td><td>{m.layer}</td><td>{m.unit}</td>"
                    f"<td>{m.signal}</td><td class=\"num\">{m.correlation:+.3f}</td></tr>")
    best = view.best_match
    return (
        '<section id="find"><h2>Units that track features of the text</h2>'
        "<p>For each feature, the units whose value follows it most closely over this text "
        "(Pearson's r between the unit and the feature: +1 rises with it, −1 falls with it). "
        f"The page opened on the best one, layer {best.layer} unit {best.unit} ({best.signal}). "
        "Click a row to colour the text by that unit. On a short text, high r can be chance: "
        "try a longer passage before trusting it.</p>"
        '<table class="find"><thead><tr><th>feature</th><th>layer</th><th>unit</th><th>signal</th>'
        f'<th class="num">r</th></tr></thead><tbody>{"".join(rows)}</tbody></table></section>'
    )


def render_page(inspection: Inspection, view: View, png: Optional[bytes] = None, title: str = "",
                budget: int = MAX_EMBEDDED_VALUES) -> str:
    """The whole page as one HTML string (see the module docstring)."""
    data = page_data(inspection, view, title, budget)
    sizes = "×".join(str(layer["size"]) for layer in data["layers"])
    embedded = sum(len(layer["units"]) for layer in data["layers"])
    total = sum(layer["size"] for layer in data["layers"])
    partial = "" if embedded == total else (
        f'<p class="note">This page holds {embedded} of the model\'s {total} units (to stay small); '
        "choose others with --layer, --units and --unit.</p>")
    mean_bits = float(np.mean(inspection.surprise_bits))
    unknown = len(data["unknown"])
    unknown_note = "" if not unknown else (
        f'<p class="note">{unknown} character(s), <span class="ch unk sample">underlined</span>, are not in the '
        "model's vocabulary: it read them as the unknown symbol �.</p>")
    chart = "" if png is None else (
        '<section id="chart"><h2>The chosen units over the whole text</h2>'
        "<p>Top: surprise per character. Below: one band per unit, one row per signal "
        "(blue low, red high; the same colours as above).</p>"
        f'<img alt="gate heat map" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}"></section>')
    heading = html.escape(title or "what the model sees")
    return _TEMPLATE.format(
        title=heading,
        summary=(f"{html.escape(inspection.cell)} {sizes} · vocabulary {len(inspection.symbols)} · "
                 f"{len(inspection):,} characters · mean surprise {mean_bits:.2f} bits/char"),
        partial=partial,
        unknown_note=unknown_note,
        chars=_char_spans(inspection.text, set(data["unknown"])),
        find=_find_table(view),
        chart=chart,
        explanations=_explanations(inspection, view.layer),
        css=_CSS,
        data=_json_for_script(data),
        script=_SCRIPT,
    )


@dataclass(frozen=True)
class WrittenPage:
    html: Path
    png: Path
    view: View


def write_page(inspection: Inspection, path: PathLike, *, png: Optional[PathLike] = None, layer: Optional[int] = None,
               units: Optional[Sequence[int]] = None, colour_unit: Optional[int] = None,
               colour_signal: Optional[str] = None, find: bool = False, title: str = "",
               view: Optional[View] = None) -> WrittenPage:
    """Write the page (and its PNG, by default beside it) for an inspection.

    From a notebook: page.write_page(lm.inspect(text), "page.html", units=[3, 17], find=True).
    """
    out, png_path = check_out_paths(path, png)
    if view is None:
        view = choose_view(inspection, layer, units, colour_unit, colour_signal, find)
    picture = render_png(inspection, view)
    document = render_page(inspection, view, picture, title)
    try:
        write_atomic(png_path, picture)
        save_text_atomic(out, document)
    except OSError as e:
        raise LstmlabError(f"cannot write {e.filename or out}: {e.strerror or e}; choose another --out") from None
    return WrittenPage(out, png_path, view)


def describe(inspection: Inspection, written: WrittenPage) -> str:
    """What `lstmlab inspect` prints: the --find table (if any), a summary line, the files."""
    view = written.view
    lines = []
    if view.searched:
        lines.append("units that track features of the text (r: correlation over this text, +1 or -1 is perfect):")
        lines.append(format_matches(view.matches))
    summary = (f"read {len(inspection):,} characters: mean surprise {np.mean(inspection.surprise_bits):.2f} bits/char; "
               f"showing layer {view.layer} units {','.join(map(str, view.units))}, text coloured by "
               f"{view.colour_signal} of unit {view.colour_unit}")
    best = view.best_match
    if best is not None:
        summary += (f"; best match: layer {best.layer} unit {best.unit} ({best.signal}) tracks "
                    f"{FEATURES.get(best.feature, best.feature)}, r = {best.correlation:+.3f}")
    lines.append(summary)
    lines.append(f"wrote {written.html} and {written.png}")
    return "\n".join(lines)


def format_matches(matches: list[UnitMatch]) -> str:
    """find_units' ranking as a plain-text table."""
    if not matches:
        return ("no unit could be ranked: none of the features (quotes, line position, parentheses, word starts) "
                "changes in this text; give a longer text with some of them")
    lines = [f"{'feature':<14} {'layer':>5} {'unit':>5} {'signal':<7} {'r':>7}  meaning"]
    for m in matches:
        lines.append(f"{m.feature:<14} {m.layer:>5} {m.unit:>5} {m.signal:<7} {m.correlation:>+7.3f}  "
                     f"{FEATURES.get(m.feature, '')}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Page template, style and script (no external resources anywhere)
# ---------------------------------------------------------------------------

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="lstmlab inspect">
<link rel="icon" href="data:,">
<title>lstmlab inspect: {title}</title>
<style>{css}</style>
</head>
<body>
<header>
<h1>lstmlab inspect <span class="subtitle">{title}</span></h1>
<p class="summary">{summary}</p>
</header>
<section id="controls" aria-label="colouring">
<label>layer <select id="layer-select"></select></label>
<label>unit <button type="button" id="unit-prev" title="previous unit">◀</button><select id="unit-select"></select><button type="button" id="unit-next" title="next unit">▶</button></label>
<label>signal <select id="signal-select"></select></label>
<div id="legend" aria-label="colour scale"><span id="legend-low"></span><span id="legend-bar"></span><span id="legend-high"></span><span id="legend-caption"></span></div>
</section>
{partial}{unknown_note}
<main>
<section id="text-section"><h2 id="text-heading">The text</h2>
<p class="hint">Each character is coloured by the chosen unit's value <em>after</em> reading it. Hover to preview a character, click to pin it; ← → move the pin.</p>
<div id="text" class="text">{chars}</div>
</section>
<aside id="panel" aria-live="polite">
<h2>Character <span id="sel-pos"></span> <span id="sel-char" class="glyph"></span> <span id="sel-mode" class="mode"></span></h2>
<p id="sel-unknown" class="note" hidden>Not in the model's vocabulary: read as the unknown symbol.</p>
<p>Surprise: <b id="surprise"></b> <span class="muted">(it gave this character <span id="actual-prob"></span>)</span></p>
<h3>Next-character guesses after reading it</h3>
<ol id="top5"></ol>
<p class="muted">Actual next character: <span id="actual-next" class="glyph"></span></p>
<h3>Units of layer <span id="panel-layer"></span> at this character</h3>
<table id="gate-table"><thead></thead><tbody></tbody></table>
<p class="muted small">Click a row to colour the text by that unit.</p>
</aside>
</main>
{find}
{chart}
<section id="explain"><h2>What the numbers mean</h2>{explanations}</section>
<footer>Written by lstmlab inspect. Every value on this page was recorded by the model while it read the text; nothing is recomputed here.</footer>
<script type="application/json" id="lstmlab-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""

_CSS = """
:root { --fg: #1d2330; --muted: #5f6b7a; --line: #d9dee5; --bg: #fbfbfa; --panel: #ffffff; --accent: #3b5bdb; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1400px; padding: 1rem 1.5rem 2rem; color: var(--fg); background: var(--bg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 1.4rem; margin: 0.2rem 0; } h1 .subtitle { font-weight: normal; color: var(--muted); }
h2 { font-size: 1.1rem; margin: 0.4rem 0 0.5rem; } h3 { font-size: 0.95rem; margin: 0.9rem 0 0.3rem; }
.summary, .muted, .hint { color: var(--muted); } .small { font-size: 0.85rem; } .hint { font-size: 0.9rem; margin-top: 0; }
.note { background: #fff8e1; border-left: 3px solid #f0b429; padding: 0.3rem 0.6rem; font-size: 0.9rem; }
#controls { display: flex; flex-wrap: wrap; gap: 0.6rem 1.2rem; align-items: center; padding: 0.6rem 0.8rem;
  background: var(--panel); border: 1px solid var(--line); border-radius: 8px; position: sticky; top: 0; z-index: 2; }
#controls select, #controls button { font: inherit; padding: 0.1rem 0.3rem; }
#controls button { border: 1px solid var(--line); background: #f3f4f6; border-radius: 4px; cursor: pointer; }
#legend { display: flex; align-items: center; gap: 0.4rem; font-size: 0.85rem; }
#legend-bar { display: inline-block; width: 180px; height: 12px; border: 1px solid #aaa; border-radius: 3px; }
#legend-caption { color: var(--muted); }
main { display: grid; grid-template-columns: minmax(0, 1fr) 430px; gap: 1.2rem; margin-top: 0.8rem; }
@media (max-width: 1000px) { main { grid-template-columns: 1fr; } }
.text { font-family: ui-monospace, "DejaVu Sans Mono", "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace;
  font-size: 16px; line-height: 1.9; white-space: pre-wrap; overflow-wrap: anywhere; background: var(--panel);
  border: 1px solid var(--line); border-radius: 8px; padding: 0.8rem 1rem; max-height: 75vh; overflow-y: auto; }
.ch { cursor: pointer; border-radius: 2px; padding: 0.12em 0; }
.ch.nl, .ch.ctl { color: #8a94a3; font-size: 0.8em; }
.ch.unk { text-decoration: underline dotted #c92a2a 2px; text-underline-offset: 3px; }
.ch.sel { outline: 2px solid #111; outline-offset: 1px; }
.ch.hov { outline: 1px dashed #111; }
.glyph { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; background: #eef1f5;
  border-radius: 3px; padding: 0 0.3em; }
aside#panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 0.6rem 0.9rem;
  align-self: start; position: sticky; top: 4rem; }
.mode { font-size: 0.75rem; color: var(--muted); font-weight: normal; }
#top5 { padding-left: 1.4rem; margin: 0.2rem 0; }
#top5 li { display: grid; grid-template-columns: 3.2em 4.2em 1fr; align-items: center; gap: 0.4rem; }
#top5 li.hit .glyph { background: #d3f9d8; }
#top5 .track { height: 8px; background: #e9ecef; border-radius: 4px; overflow: hidden; }
#top5 .bar { display: block; height: 100%; background: var(--accent); opacity: 0.75; }
#top5 .p { text-align: right; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; font-size: 0.85rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 0.15rem 0.35rem; }
th { background: #f3f4f6; font-weight: 600; }
#gate-table { width: 100%; font-size: 0.8rem; }
#gate-table th, #gate-table td { padding: 0.12rem 0.25rem; }
#gate-table td.v { text-align: right; font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
#gate-table tbody tr { cursor: pointer; } #gate-table tr.current th { background: #dbe4ff; }
table.find tbody tr { cursor: pointer; } table.find tbody tr:hover, table.find tr.current { background: #edf2ff; }
td.num, th.num { text-align: right; }
#chart img { max-width: 100%; border: 1px solid var(--line); border-radius: 8px; background: #fff; }
#explain dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; }
#explain dt { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
#explain dd { margin: 0; }
#tooltip { position: fixed; pointer-events: none; background: rgba(20, 24, 33, 0.92); color: #fff; font-size: 0.8rem;
  padding: 0.2rem 0.5rem; border-radius: 4px; display: none; z-index: 5; white-space: nowrap; }
footer { margin-top: 2rem; color: var(--muted); font-size: 0.8rem; }
"""

_SCRIPT = r"""
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("lstmlab-data").textContent);
  const CHARS = Array.from(D.text);  // by code point, as Python indexes the text
  const T = CHARS.length;
  const spans = Array.from(document.querySelectorAll("#text .ch"));
  const unknown = new Set(D.unknown);
  const cache = new Map();
  const state = { layer: D.initial.layer, unit: D.initial.unit, signal: D.initial.signal,
                  selected: D.initial.position, hover: null };
  const $ = (id) => document.getElementById(id);

  function decode(b64) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }
  function series(layer, signal, unit) {
    const L = D.layers[layer];
    const k = L.units.indexOf(unit);
    if (k < 0 || !(signal in L.values)) return null;
    const key = layer + "/" + signal;
    if (!cache.has(key)) cache.set(key, decode(L.values[signal]));
    return cache.get(key).subarray(k * T, (k + 1) * T);
  }
  function cellScale(layer, unit) {
    const L = D.layers[layer];
    return L.cell_scale[L.units.indexOf(unit)] || 1;
  }
  // Diverging scale on -1 ... 1 (blue, white, red): ColorBrewer RdBu, as matplotlib's RdBu_r in the PNG.
  const STOPS = [[33, 102, 172], [103, 169, 207], [209, 229, 240], [247, 247, 247], [253, 219, 199],
                 [239, 138, 98], [178, 24, 43]];
  const SEQ = [[255, 255, 255], [231, 212, 232], [194, 165, 207], [153, 112, 171], [118, 42, 131]];
  function ramp(stops, t) {
    t = Math.max(0, Math.min(1, t)) * (stops.length - 1);
    const i = Math.min(Math.floor(t), stops.length - 2), f = t - i;
    return stops[i].map((a, j) => Math.round(a + (stops[i + 1][j] - a) * f));
  }
  function normalised(signal, v, layer, unit) {
    const kind = D.ranges[signal];
    if (kind === "sigmoid") return 2 * v - 1;
    if (kind === "cell") return v / cellScale(layer, unit);
    return v;
  }
  function colourFor(signal, v, layer, unit) {
    if (signal === "surprise") return ramp(SEQ, v / 8);
    return ramp(STOPS, (normalised(signal, v, layer, unit) + 1) / 2);
  }
  const css = (rgb) => "rgb(" + rgb.join(",") + ")";
  const dark = (rgb) => 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < 125;
  function shown(ch) {
    if (ch === "\n") return "↵"; if (ch === " ") return "␣"; if (ch === "\t") return "⇥";
    if (ch.charCodeAt(0) < 32) return String.fromCharCode(0x2400 + ch.charCodeAt(0));
    return ch;
  }
  const fmt = (v) => v.toFixed(3);
  const pct = (p) => (100 * p).toFixed(1) + "%";
  const label = (s) => s === "surprise" ? "surprise (bits)" : s + " (" + D.short_names[s] + ")";

  function currentValues() {
    if (state.signal === "surprise") return D.surprise;
    return series(state.layer, state.signal, state.unit);
  }
  function recolour() {
    const values = currentValues();
    for (let i = 0; i < spans.length; i++) {
      const v = values[i];
      const rgb = colourFor(state.signal, v, state.layer, state.unit);
      const s = spans[i];
      s.style.backgroundColor = css(rgb);
      s.style.color = dark(rgb) ? "#fff" : "";
      s.dataset.v = v.toFixed(4);
    }
    legend();
    $("text-heading").textContent = state.signal === "surprise" ? "The text, coloured by the model's surprise"
      : "The text, coloured by " + state.signal + " of layer " + state.layer + " unit " + state.unit;
    document.querySelectorAll("table.find tbody tr").forEach((tr) => tr.classList.toggle("current",
      +tr.dataset.layer === state.layer && +tr.dataset.unit === state.unit && tr.dataset.signal === state.signal));
    panel();
  }
  function legend() {
    const bar = $("legend-bar");
    let low = "−1", high = "+1", caption = "tanh: −1 … 0 … +1";
    if (state.signal === "surprise") {
      bar.style.background = "linear-gradient(to right," + SEQ.map(css).join(",") + ")";
      low = "0 bits"; high = "8+ bits"; caption = "how unexpected each character was";
    } else {
      bar.style.background = "linear-gradient(to right," + STOPS.map(css).join(",") + ")";
      const kind = D.ranges[state.signal];
      if (kind === "sigmoid") { low = "0"; high = "1"; caption = "gate: 0 closed … 0.5 … 1 open"; }
      if (kind === "cell") {
        const m = cellScale(state.layer, state.unit).toFixed(2);
        low = "−" + m; high = "+" + m; caption = "cell state, scaled to its largest |c| in this text";
      }
    }
    $("legend-low").textContent = low; $("legend-high").textContent = high; $("legend-caption").textContent = caption;
  }

  function fillSelect(select, options, value) {
    select.innerHTML = "";
    for (const [v, text, disabled] of options) {
      const o = document.createElement("option");
      o.value = String(v); o.textContent = text; o.disabled = !!disabled;
      select.appendChild(o);
    }
    select.value = String(value);
  }
  function controls() {
    fillSelect($("layer-select"), D.layers.map((L, i) => [i, i + " (" + L.size + " units)", L.units.length === 0]),
               state.layer);
    const L = D.layers[state.layer];
    fillSelect($("unit-select"), L.units.map((u) => [u, String(u)]), state.unit);
    fillSelect($("signal-select"), L.signals.concat(["surprise"]).map((s) => [s, label(s)]), state.signal);
    $("unit-select").disabled = state.signal === "surprise";
  }
  function setView(layer, unit, signal) {
    state.layer = layer;
    const L = D.layers[layer];
    state.unit = L.units.includes(unit) ? unit : L.units[0];
    state.signal = signal === "surprise" || L.signals.includes(signal) ? signal : "hidden";
    controls();
    recolour();
  }

  function panel() {
    const i = state.hover !== null ? state.hover : state.selected;
    $("sel-mode").textContent = state.hover !== null && state.hover !== state.selected ? "(hover; click to pin)" : "";
    document.querySelectorAll("#text .sel, #text .hov").forEach((s) => s.classList.remove("sel", "hov"));
    spans[state.selected].classList.add("sel");
    if (state.hover !== null && state.hover !== state.selected) spans[state.hover].classList.add("hov");
    $("sel-pos").textContent = (i + 1) + " of " + T;
    $("sel-char").textContent = shown(CHARS[i]);
    $("sel-unknown").hidden = !unknown.has(i);
    $("surprise").textContent = D.surprise[i].toFixed(2) + " bits";
    $("actual-prob").textContent = pct(D.actual_prob[i]);
    const next = i + 1 < T ? CHARS[i + 1] : null;
    const top = $("top5");
    top.innerHTML = "";
    const ids = D.top_ids[i + 1], probs = D.top_probs[i + 1];
    for (let k = 0; k < ids.length; k++) {
      const sym = D.symbols[ids[k]];
      const li = document.createElement("li");
      li.dataset.symbol = sym; li.dataset.p = String(probs[k]);
      if (next !== null && sym === next) li.classList.add("hit");
      const g = document.createElement("span"); g.className = "glyph"; g.textContent = shown(sym);
      const p = document.createElement("span"); p.className = "p"; p.textContent = pct(probs[k]);
      const track = document.createElement("span"); track.className = "track";
      const bar = document.createElement("span"); bar.className = "bar"; bar.style.width = (100 * probs[k]).toFixed(1) + "%";
      track.appendChild(bar);
      li.append(g, p, track);
      top.appendChild(li);
    }
    $("actual-next").textContent = next === null ? "(end of the text)" : shown(next);
    gateTable(i);
  }
  function gateTable(i) {
    const layer = state.layer, L = D.layers[layer];
    $("panel-layer").textContent = layer;
    const units = L.panel_units.slice();
    if (!units.includes(state.unit) && L.units.includes(state.unit)) units.push(state.unit);
    const head = $("gate-table").tHead, body = $("gate-table").tBodies[0];
    head.innerHTML = ""; body.innerHTML = "";
    const hr = head.insertRow();
    const th0 = document.createElement("th"); th0.textContent = "unit"; hr.appendChild(th0);
    for (const s of L.signals) {
      const th = document.createElement("th"); th.textContent = D.short_names[s]; th.title = s; hr.appendChild(th);
    }
    for (const u of units) {
      const tr = body.insertRow();
      tr.dataset.unit = u;
      if (u === state.unit) tr.classList.add("current");
      const th = document.createElement("th"); th.textContent = u; tr.appendChild(th);
      for (const s of L.signals) {
        const v = series(layer, s, u)[i];
        const td = tr.insertCell();
        td.className = "v"; td.dataset.unit = u; td.dataset.gate = s; td.textContent = fmt(v);
        const rgb = colourFor(s, v, layer, u);
        td.style.backgroundColor = css(rgb); td.style.color = dark(rgb) ? "#fff" : "";
        td.title = s + " of unit " + u + " after reading character " + (i + 1);
      }
      tr.addEventListener("click", () => setView(layer, u, state.signal === "surprise" ? "hidden" : state.signal));
    }
  }

  function select(i) {
    state.selected = Math.max(0, Math.min(T - 1, i));
    state.hover = null;
    panel();
  }
  const text = $("text"), tip = document.createElement("div");
  tip.id = "tooltip"; document.body.appendChild(tip);
  text.addEventListener("click", (e) => { const s = e.target.closest(".ch"); if (s) select(+s.dataset.i); });
  text.addEventListener("mouseover", (e) => {
    const s = e.target.closest(".ch"); if (!s) return;
    const i = +s.dataset.i; state.hover = i; panel();
    const v = currentValues()[i];
    tip.textContent = shown(CHARS[i]) + "  #" + (i + 1) + "  " + (state.signal === "surprise" ? v.toFixed(2) + " bits"
      : D.short_names[state.signal] + "[" + state.unit + "] = " + fmt(v)) + "  ·  surprise " + D.surprise[i].toFixed(2) + " bits";
    tip.style.display = "block";
  });
  text.addEventListener("mousemove", (e) => { tip.style.left = (e.clientX + 12) + "px"; tip.style.top = (e.clientY + 14) + "px"; });
  text.addEventListener("mouseleave", () => { state.hover = null; tip.style.display = "none"; panel(); });
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "SELECT" || e.target.tagName === "INPUT") return;
    if (e.key === "ArrowRight") { select(state.selected + 1); e.preventDefault(); }
    if (e.key === "ArrowLeft") { select(state.selected - 1); e.preventDefault(); }
  });
  $("layer-select").addEventListener("change", (e) => setView(+e.target.value, state.unit, state.signal));
  $("unit-select").addEventListener("change", (e) => setView(state.layer, +e.target.value, state.signal));
  $("signal-select").addEventListener("change", (e) => setView(state.layer, state.unit, e.target.value));
  function step(d) {
    const units = D.layers[state.layer].units, k = units.indexOf(state.unit);
    setView(state.layer, units[(k + d + units.length) % units.length], state.signal === "surprise" ? "hidden" : state.signal);
  }
  $("unit-prev").addEventListener("click", () => step(-1));
  $("unit-next").addEventListener("click", () => step(1));
  document.querySelectorAll("table.find tbody tr").forEach((tr) => {
    const go = () => setView(+tr.dataset.layer, +tr.dataset.unit, tr.dataset.signal);
    tr.addEventListener("click", go);
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
  });

  window.lstmlab = { data: D, state: state, select: select, setView: setView };
  setView(state.layer, state.unit, state.signal);
  document.body.dataset.ready = "1";
})();
"""
