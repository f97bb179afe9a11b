"""What a trained model does at each character: gates, cell states, predictions.

`LanguageModel.inspect(text)` returns an `Inspection`; `lstmlab inspect` draws
one as a page (page.py). The gate values are the ones the model's own cells
computed while reading the text (cells.py, `trace`), not a re-implementation.

Positions: the text has T characters. probs has T + 1 rows: row t is the
model's distribution for character t given the characters before it (row 0:
before reading anything, from the all-zero state), so row T is its guess for
the character after the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import LstmlabError

FEATURES = {
    "in_quotes": "inside double quotes",
    "line_position": "characters since the start of the line",
    "in_parens": "inside parentheses",
    "word_start": "first character of a word",
}
_OPEN_QUOTES, _CLOSE_QUOTES, _PLAIN_QUOTES = "\u201c", "\u201d", '"'


@dataclass
class Inspection:
    text: str  # as the model read it (normalised like the training text)
    ids: np.ndarray  # (T,)
    symbols: tuple[str, ...]  # the vocabulary; symbols[0] is the unknown symbol
    cell: str
    gates: list[dict[str, np.ndarray]]  # per layer: signal name (the cell's declared signals) -> (T, H)
    probs: np.ndarray  # (T + 1, V)

    def __len__(self) -> int:
        return len(self.text)

    @property
    def surprise_bits(self) -> np.ndarray:
        """(T,) -log2 p(character t | the characters before it)."""
        picked = self.probs[np.arange(len(self.ids)), self.ids]
        return -np.log2(np.maximum(picked, np.finfo(np.float64).tiny))

    def top_predictions(self, position: int, k: int = 5) -> list[tuple[str, float]]:
        """The k likeliest next characters after reading text[: position + 1]."""
        row = self.probs[position + 1]
        best = np.argsort(-row, kind="stable")[:k]
        return [(self.symbols[i], float(row[i])) for i in best]

    def signal(self, layer: int, unit: int, name: str = "hidden") -> np.ndarray:
        """(T,) one unit's values; name is a gate ("forget", ...), "cell" or "hidden"."""
        self.check_unit(layer, unit)
        if name not in self.gates[layer]:
            raise LstmlabError(f"a {self.cell} cell has no {name!r}; choose one of {', '.join(self.gates[layer])}")
        return self.gates[layer][name][:, unit]

    def check_unit(self, layer: int, unit: int) -> None:
        if not 0 <= layer < len(self.gates):
            raise LstmlabError(f"layer {layer} does not exist; the model has layers 0..{len(self.gates) - 1}")
        size = self.gates[layer]["hidden"].shape[1]
        if not 0 <= unit < size:
            raise LstmlabError(f"unit {unit} does not exist in layer {layer}; it has units 0..{size - 1}")

    def to_frame(self, layer: int = 0, units: Optional[list[int]] = None):
        """A pandas table, one row per character: the character, its surprise, and
        every gate of the chosen units (all units when none are given)."""
        import pandas as pd

        units = list(range(self.gates[layer]["hidden"].shape[1])) if units is None else units
        columns: dict[str, object] = {"char": list(self.text), "surprise_bits": self.surprise_bits}
        for unit in units:
            self.check_unit(layer, unit)
            for name, values in self.gates[layer].items():
                columns[f"{name}[{unit}]"] = values[:, unit]
        return pd.DataFrame(columns)


def text_features(text: str) -> dict[str, np.ndarray]:
    """Per character, the simple properties Karpathy et al. (2015) found cells tracking."""
    n = len(text)
    in_quotes, line_position = np.zeros(n), np.zeros(n)
    in_parens, word_start = np.zeros(n), np.zeros(n)
    quoted, depth, column = False, 0, 0
    for t, ch in enumerate(text):
        # A quote character belongs to the quotation it opens or closes.
        if ch == _OPEN_QUOTES or (ch == _PLAIN_QUOTES and not quoted):
            quoted = True
            in_quotes[t] = 1
        elif ch == _CLOSE_QUOTES or ch == _PLAIN_QUOTES:
            in_quotes[t] = 1
            quoted = False
        else:
            in_quotes[t] = quoted
        if ch == "(":
            depth += 1
        in_parens[t] = depth > 0
        if ch == ")":
            depth = max(depth - 1, 0)
        line_position[t] = column
        column = 0 if ch == "\n" else column + 1
        word_start[t] = ch.isalnum() and (t == 0 or not text[t - 1].isalnum())
    return {"in_quotes": in_quotes, "line_position": line_position, "in_parens": in_parens, "word_start": word_start}


@dataclass(frozen=True)
class UnitMatch:
    feature: str
    layer: int
    unit: int
    signal: str  # "hidden" or "cell"
    correlation: float  # Pearson's r between the unit's value and the feature, over the text


def find_units(inspection: Inspection, top: int = 5) -> list[UnitMatch]:
    """For each text feature, the `top` units whose hidden or cell values track it
    best (largest |correlation| over the inspected text). Features that never
    change in the text (no quotes at all, say) cannot be ranked and are left out."""
    matches = []
    for feature, values in text_features(inspection.text).items():
        if values.std() == 0:
            continue
        target = (values - values.mean()) / values.std()
        found = []
        for layer, gates in enumerate(inspection.gates):
            for signal in ("hidden", "cell"):
                if signal not in gates:
                    continue
                acts = gates[signal].astype(np.float64)  # (T, H)
                spread = acts.std(axis=0)
                centred = acts - acts.mean(axis=0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    r = (centred * target[:, None]).mean(axis=0) / spread
                r = np.where(spread > 0, r, 0.0)
                found += [UnitMatch(feature, layer, int(u), signal, float(r[u])) for u in range(len(r))]
        found.sort(key=lambda m: -abs(m.correlation))
        matches += found[:top]
    return matches
