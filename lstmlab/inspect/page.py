"""The `lstmlab inspect` page: one self-contained HTML file and a PNG (drawn by heatmap.py).

Everything drawn here comes from an `Inspection` (inspection.py), i.e. from
`LanguageModel.inspect(text)`: the page never runs or recomputes the model. A word
run's page is the same page with one element per word (the text joined as generation
writes it), surprise in bits per word and the likeliest next words.

    import lstmlab
    from lstmlab.inspect import page
    lm = lstmlab.load("runs/demo")
    inspection = lm.inspect('He said "hello (there)".\\nThen he left.')
    page.write_page(inspection, "hello.html", find=True)   # also writes hello.png

The HTML holds its CSS, its JavaScript, its data (one <script type="application/json">
tag) and the PNG (as a data: URL) inline, so it opens offline and can be mailed
around as one file. It asks for nothing over the network: no fonts, no scripts.
The page's HTML, CSS and JavaScript live beside this module as package data, in
assets/page.html (a template with <!-- lstmlab:NAME --> markers), page.css and
page.js; render_page inlines them into the one file it writes. page.js draws the
interactive view from the embedded data alone, so the playground of `lstmlab serve`
draws the same view from that data fetched at run time (POST /v1/inspect).

Gate values travel as base64 float32 arrays, one per (layer, signal), unit-major.
The model computes them in float32, so this loses nothing. A page shows at most
MAX_EMBEDDED_VALUES numbers (~10 MB): for big models on long texts only some
units are embedded (the chosen ones, the --find matches, then the chosen layer's
units in order) and the page says so.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..cells import cell_class
from ..checkpoint import PathLike, save_text_atomic, write_atomic
from ..errors import LstmlabError
from .heatmap import cell_scale, render_heatmap, short_name, signal_range
# FEATURES and WORD_FEATURES: also read from here (page.FEATURES), as the --find table's feature names.
from .inspection import FEATURES, WORD_FEATURES, Inspection, UnitMatch, feature_meaning, find_units


DEFAULT_MAX_CHARS = 5000
DEFAULT_UNIT_COUNT = 4
MAX_PANEL_UNITS = 16
MAX_EMBEDDED_VALUES = 2_000_000

# Where render_page fills in assets/page.html: <!-- lstmlab:title -->, <!-- lstmlab:css --> and so on.
TEMPLATE_MARKER = re.compile(r"<!-- lstmlab:([a-z_]+) -->")


def surprise_explained(noun: str = "character") -> str:
    """What the page says surprise is, for a character or a word."""
    return (f"surprise = −log<sub>2</sub> p({noun} | everything before it), in bits. 0 bits: the "
            f"model was sure of this {noun}; 1 bit: it gave it 50%; 7 bits: less than 1%.")


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


def render_png(inspection: Inspection, view: View, title: Optional[str] = None) -> bytes:
    """The PNG beside the page: the view's units over the whole text (heatmap.py)."""
    return render_heatmap(inspection, view.layer, view.units, title)


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
    top_ids, top_probs = inspection.top(5)  # as Inspection.top_predictions
    symbols = list(inspection.symbols)
    words = {}
    if inspection.tokens is not None:
        # A word vocabulary is too big to embed: only the words the guesses name travel, and
        # top_ids index them. Each element is a token, shown as its piece of the text.
        named, inverse = np.unique(top_ids, return_inverse=True)
        top_ids = inverse.reshape(top_ids.shape)
        symbols = [inspection.symbols[i] for i in named]
        words = {"tokens": list(inspection.tokens), "pieces": list(inspection.pieces)}
    return {
        "title": title,
        "cell": inspection.cell,
        "level": inspection.level,  # "word": tokens and pieces follow, and symbols holds only the guesses' words
        "text": inspection.text,
        **words,
        "unknown": [int(t) for t in np.flatnonzero(inspection.ids == inspection.unknown_id)],
        "symbols": symbols,
        "surprise": [float(s) for s in inspection.surprise_bits],
        "actual_prob": [float(p) for p in inspection.actual_probs],
        # Row t + 1 of probs: the guesses after reading character (or word) t (row 0: before any).
        "top_ids": top_ids.tolist(),
        "top_probs": top_probs.tolist(),
        "layers": layers,
        "short_names": {name: short_name(inspection.cell, name) for g in inspection.gates for name in g},
        "ranges": {name: signal_range(inspection.cell, name) for g in inspection.gates for name in g},
        "initial": {"layer": view.layer, "unit": view.colour_unit, "signal": view.colour_signal,
                    "units": view.units, "position": 0},
        "matches": [{"feature": m.feature, "description": feature_meaning(m.feature), "layer": m.layer,
                     "unit": m.unit, "signal": m.signal, "r": m.correlation} for m in view.matches],
    }


def read_asset(name: str) -> str:
    """One of the page's files in lstmlab/inspect/assets (package data): page.html, page.css or page.js."""
    return (resources.files(__package__) / "assets" / name).read_text(encoding="utf-8")


def fill_template(template: str, values: dict[str, str]) -> str:
    """Put each value where its marker <!-- lstmlab:NAME --> stands in `template`.

    Every marker must appear exactly once and every value must have one. The markers are
    replaced in one pass, so a value that happens to contain a marker (the inspected text
    can hold anything) is left as it is rather than filled in turn. Nothing else in the
    template is touched: the CSS and JavaScript may hold any braces.
    """
    found = Counter(TEMPLATE_MARKER.findall(template))
    repeated = sorted(name for name, count in found.items() if count != 1)
    if repeated or set(found) != set(values):
        raise ValueError(f"page template markers do not match: repeated {repeated}, "
                         f"unfilled {sorted(set(found) - set(values))}, unused {sorted(set(values) - set(found))}")
    return TEMPLATE_MARKER.sub(lambda m: values[m.group(1)], template)


def _json_for_script(data: dict) -> str:
    """JSON that cannot end its <script> tag early."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _explanations(inspection: Inspection, layer: int) -> str:
    items = []
    for name in inspection.gates[layer]:
        signal = cell_class(inspection.cell).signal(name)  # its letter, scale and meaning, as the cell declares them
        span = {"sigmoid": "0 … 1", "tanh": "−1 … 1", "cell": "unbounded"}[signal.scale]
        items.append(f"<dt><b>{signal.short}</b> {html.escape(name)} <small>({span})</small></dt>"
                     f"<dd>{signal.meaning}</dd>")
    items.append(f"<dt><b>bits</b> surprise</dt><dd>{surprise_explained(inspection.noun)}</dd>")
    return "<dl>" + "".join(items) + "</dl>"


def _find_table(view: View) -> str:
    if not view.matches:
        return ""
    rows = []
    for m in view.matches:
        rows.append(f'<tr data-layer="{m.layer}" data-unit="{m.unit}" data-signal="{m.signal}" tabindex="0">'
                    f"<td>{html.escape(feature_meaning(m.feature))}</td><td>{m.layer}</td><td>{m.unit}</td>"
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
    noun = inspection.noun
    unknown_symbol = html.escape(inspection.symbols[inspection.unknown_id])
    unknown_note = "" if not unknown else (
        f'<p class="note">{unknown} {noun}(s), <span class="ch unk sample">underlined</span>, are not in the '
        f"model's vocabulary: it read them as the unknown symbol {unknown_symbol}.</p>")
    chart = "" if png is None else (
        '<section id="chart"><h2>The chosen units over the whole text</h2>'
        f"<p>Top: surprise per {noun}. Below: one band per unit, one row per signal "
        "(blue low, red high; the same colours as above).</p>"
        f'<img alt="gate heat map" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}"></section>')
    heading = html.escape(title or "what the model sees")
    return fill_template(read_asset("page.html"), {
        "title": heading,
        "heading": heading,
        "css": read_asset("page.css"),
        "summary": (f"{html.escape(inspection.cell)} {sizes} · vocabulary {len(inspection.symbols)} · "
                    f"{len(inspection):,} {noun}s · mean surprise {mean_bits:.2f} {inspection.bits_unit}"),
        "partial": partial,
        "unknown_note": unknown_note,
        # Plain text for a reader without script; page.js draws the coloured characters.
        "chars": html.escape(inspection.text),
        "find": _find_table(view),
        "chart": chart,
        "explanations": _explanations(inspection, view.layer),
        "data": _json_for_script(data),
        "script": read_asset("page.js"),
    })


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
        lines.append(format_matches(view.matches, inspection.level))
    summary = (f"read {len(inspection):,} {inspection.noun}s: mean surprise {np.mean(inspection.surprise_bits):.2f} "
               f"{inspection.bits_unit}; "
               f"showing layer {view.layer} units {','.join(map(str, view.units))}, text coloured by "
               f"{view.colour_signal} of unit {view.colour_unit}")
    best = view.best_match
    if best is not None:
        summary += (f"; best match: layer {best.layer} unit {best.unit} ({best.signal}) tracks "
                    f"{feature_meaning(best.feature)}, r = {best.correlation:+.3f}")
    lines.append(summary)
    lines.append(f"wrote {written.html} and {written.png}")
    return "\n".join(lines)


def format_matches(matches: list[UnitMatch], level: str = "char") -> str:
    """find_units' ranking as a plain-text table; `level` ("char" or "word") names the features looked for."""
    if not matches:
        looked_for = ("quotes, line position, parentheses, word starts" if level == "char"
                      else "quotes, position in the sentence, parentheses, punctuation")
        return (f"no unit could be ranked: none of the features ({looked_for}) "
                "changes in this text; give a longer text with some of them")
    width = max(14, *(len(m.feature) + 1 for m in matches))
    lines = [f"{'feature':<{width}} {'layer':>5} {'unit':>5} {'signal':<7} {'r':>7}  meaning"]
    for m in matches:
        lines.append(f"{m.feature:<{width}} {m.layer:>5} {m.unit:>5} {m.signal:<7} {m.correlation:>+7.3f}  "
                     f"{feature_meaning(m.feature)}")
    return "\n".join(lines)

