"""What a trained model does at each character (or word): gates, cell states, predictions.

`LanguageModel.inspect(text)` returns an `Inspection`; `lstmlab inspect` draws
one as a page (page.py). The gate values are the ones the model's own cells
computed while reading the text (cells.py, `trace`), not a re-implementation.

Positions: the text has T characters (a word run: T words, see below). probs has
T + 1 rows: row t is the model's distribution for character t given the characters
before it (row 0: before reading anything, from the all-zero state), so row T is
its guess for the character after the text.

A word run's vocabulary holds 10,000 to 270,000 words, so the whole (T + 1, V) table
would take hundreds of megabytes for a page-long text: a word inspection keeps only
what the page and the API show (`WordPredictions`): the probability of each word
that did come, and the TOP_KEPT likeliest next words after each position. Its text
is the words joined as generation writes them (`pieces`: each word with the space
before it, tokenizers.Joiner).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..errors import LstmlabError

FEATURES = {
    "in_quotes": "inside double quotes",
    "line_position": "characters since the start of the line",
    "in_parens": "inside parentheses",
    "word_start": "first character of a word",
}
# A word run's features (word_features): "line_position" becomes the position in the sentence,
# as the word tokenizer reads no line ends and a pre-tokenized corpus's lines are its sentences;
# "word_start" holds for every word, so its place goes to punctuation.
WORD_FEATURES = {
    "in_quotes": "inside double quotes",
    "sentence_position": "words since the start of the sentence",
    "in_parens": "inside parentheses",
    "punctuation": "a punctuation mark, not a word",
}
_OPEN_QUOTES, _CLOSE_QUOTES, _PLAIN_QUOTES = "\u201c", "\u201d", '"'
# Pre-tokenized corpora (Penn Treebank) write quotes as `` and ''.
_OPEN_QUOTE_TOKENS, _CLOSE_QUOTE_TOKENS = {_OPEN_QUOTES, "``"}, {_CLOSE_QUOTES, "''"}
_SENTENCE_ENDS = {".", "!", "?", "<eos>"}
# How many of the likeliest next words a word inspection keeps per position.
TOP_KEPT = 10
# What the page, the PNG and the summaries call one position, and its surprise's unit.
NOUNS = {"char": ("character", "bits/char"), "word": ("word", "bits/word")}


def feature_meaning(feature: str) -> str:
    """A feature's description, for either level's features."""
    return FEATURES.get(feature) or WORD_FEATURES.get(feature, feature)


@dataclass
class WordPredictions:
    """What a word inspection keeps of the model's next-word distributions (see the module docstring)."""

    actual: np.ndarray  # (T,) p(word t | the words before it)
    top_ids: np.ndarray  # (T + 1, K) the likeliest next words per row, likeliest first (<pad> never among them)
    top_probs: np.ndarray  # (T + 1, K) their probabilities


@dataclass
class Inspection:
    text: str  # as the model read it (normalised like the training text); a word run: "".join(pieces)
    ids: np.ndarray  # (T,)
    symbols: Sequence[str]  # the vocabulary; symbols[unknown_id] is the unknown symbol
    cell: str
    gates: list[dict[str, np.ndarray]]  # per layer: signal name (the cell's declared signals) -> (T, H)
    probs: Optional[np.ndarray]  # (T + 1, V); None for a word run, which keeps `predictions` instead
    # A word run: the words as read ("<eos>" for a pre-tokenized run's line end), each word with the
    # space before it as generation writes it, and what it keeps of the predictions.
    tokens: Optional[tuple[str, ...]] = None
    pieces: Optional[tuple[str, ...]] = None
    predictions: Optional[WordPredictions] = None
    unknown_id: int = 0

    def __post_init__(self) -> None:
        if (self.probs is None) == (self.predictions is None) or (self.tokens is None) != (self.predictions is None):
            raise ValueError("an Inspection holds either probs (characters) or tokens and predictions (words)")
        if self.tokens is not None and (self.pieces is None or len(self.pieces) != len(self.tokens)
                                        or "".join(self.pieces) != self.text):
            raise ValueError("a word Inspection's pieces must be one per token and make up its text")

    @property
    def level(self) -> str:
        """"char" or "word": what one position is."""
        return "char" if self.tokens is None else "word"

    @property
    def noun(self) -> str:
        """"character" or "word", as the page and the summaries say it."""
        return NOUNS[self.level][0]

    @property
    def bits_unit(self) -> str:
        """"bits/char" or "bits/word"."""
        return NOUNS[self.level][1]

    def __len__(self) -> int:
        return len(self.text) if self.tokens is None else len(self.tokens)

    @property
    def actual_probs(self) -> np.ndarray:
        """(T,) p(symbol t | the symbols before it)."""
        if self.predictions is not None:
            return self.predictions.actual
        return self.probs[np.arange(len(self.ids)), self.ids]

    @property
    def surprise_bits(self) -> np.ndarray:
        """(T,) -log2 p(character (or word) t | the ones before it)."""
        picked = self.actual_probs
        return -np.log2(np.maximum(picked, np.finfo(np.float64).tiny))

    def top(self, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """The k likeliest next symbols after every position: ids and probabilities, each (T + 1, k),
        likeliest first (row t + 1: after reading symbol t; row 0: before any)."""
        if self.predictions is None:
            ids = np.argsort(-self.probs, axis=1, kind="stable")[:, :k]
            return ids, np.take_along_axis(self.probs, ids, axis=1)
        kept = self.predictions.top_ids.shape[1]
        if k > kept:
            raise LstmlabError(f"a word inspection keeps the {kept} likeliest next words per position; ask for "
                               f"at most {kept}, or use next_word_probs(text, top={k}) for one position")
        return self.predictions.top_ids[:, :k], self.predictions.top_probs[:, :k]

    def top_predictions(self, position: int, k: int = 5) -> list[tuple[str, float]]:
        """The k likeliest next characters (or words) after reading the first position + 1."""
        if self.predictions is None:
            row = self.probs[position + 1]
            best = np.argsort(-row, kind="stable")[:k]
            return [(self.symbols[i], float(row[i])) for i in best]
        ids, probs = self.top(k)
        return [(self.symbols[i], float(p)) for i, p in zip(ids[position + 1], probs[position + 1])]

    def features(self) -> dict[str, np.ndarray]:
        """The features find_units ranks units by: per character (text_features) or per word (word_features)."""
        return text_features(self.text) if self.tokens is None else word_features(self.tokens)

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
        """A pandas table, one row per character (a word run: per word, column "word"): the
        character, its surprise, and every gate of the chosen units (all units when none are given)."""
        import pandas as pd

        units = list(range(self.gates[layer]["hidden"].shape[1])) if units is None else units
        items = {"char": list(self.text)} if self.tokens is None else {"word": list(self.tokens)}
        columns: dict[str, object] = {**items, "surprise_bits": self.surprise_bits}
        for unit in units:
            self.check_unit(layer, unit)
            for name, values in self.gates[layer].items():
                columns[f"{name}[{unit}]"] = values[:, unit]
        return pd.DataFrame(columns)


def quotes_and_parens(units: Sequence[str], opening: set[str], closing: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per unit (a character, or a word), whether it lies inside a quotation and inside
    parentheses. A quote mark belongs to the quotation it opens or closes; a plain " opens when
    none is open and closes otherwise."""
    in_quotes, in_parens = np.zeros(len(units)), np.zeros(len(units))
    quoted, depth = False, 0
    for t, unit in enumerate(units):
        if unit in opening or (unit == _PLAIN_QUOTES and not quoted):
            quoted = True
            in_quotes[t] = 1
        elif unit in closing or unit == _PLAIN_QUOTES:
            in_quotes[t] = 1
            quoted = False
        else:
            in_quotes[t] = quoted
        if unit == "(":
            depth += 1
        in_parens[t] = depth > 0
        if unit == ")":
            depth = max(depth - 1, 0)
    return in_quotes, in_parens


def text_features(text: str) -> dict[str, np.ndarray]:
    """Per character, the simple properties Karpathy et al. (2015) found cells tracking."""
    in_quotes, in_parens = quotes_and_parens(text, {_OPEN_QUOTES}, {_CLOSE_QUOTES})
    line_position, word_start = np.zeros(len(text)), np.zeros(len(text))
    column = 0
    for t, ch in enumerate(text):
        line_position[t] = column
        column = 0 if ch == "\n" else column + 1
        word_start[t] = ch.isalnum() and (t == 0 or not text[t - 1].isalnum())
    return {"in_quotes": in_quotes, "line_position": line_position, "in_parens": in_parens, "word_start": word_start}


def word_features(tokens: Sequence[str]) -> dict[str, np.ndarray]:
    """Per word, the counterparts of text_features (WORD_FEATURES says why they differ)."""
    in_quotes, in_parens = quotes_and_parens(tokens, _OPEN_QUOTE_TOKENS, _CLOSE_QUOTE_TOKENS)
    sentence_position, punctuation = np.zeros(len(tokens)), np.zeros(len(tokens))
    count = 0
    for t, token in enumerate(tokens):
        sentence_position[t] = count
        count = 0 if token in _SENTENCE_ENDS else count + 1
        punctuation[t] = not any(ch.isalnum() for ch in token)
    return {"in_quotes": in_quotes, "sentence_position": sentence_position, "in_parens": in_parens,
            "punctuation": punctuation}


@dataclass(frozen=True)
class UnitMatch:
    feature: str
    layer: int
    unit: int
    signal: str  # "hidden" or "cell"
    correlation: float  # Pearson's r between the unit's value and the feature, over the text


def find_units(inspection: Inspection, top: int = 5) -> list[UnitMatch]:
    """For each text feature (Inspection.features), the `top` units whose hidden or cell values track it
    best (largest |correlation| over the inspected text). Features that never
    change in the text (no quotes at all, say) cannot be ranked and are left out."""
    matches = []
    for feature, values in inspection.features().items():
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
