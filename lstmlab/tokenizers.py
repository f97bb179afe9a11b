"""Text -> token ids for word-level models and classifiers, saved as tokenizer.json in a run.

Three tokenisers with one interface (`tokenize`, `encode`, `decode`, `joiner`,
`to_json`, `load_tokenizer`). All reserve id 0 for padding and id 1 for the
unknown token, so every padded batch and every unseen word has a place to go:

    WordTokenizer        lowercased (by default) words, with each punctuation mark
                         its own token: "Don't panic!" -> ["don't", "panic", "!"].
                         The vocabulary keeps the most frequent tokens (--max-vocab),
                         and only those seen at least --min-freq times.
    WhitespaceTokenizer  for corpora that are already tokenized (Penn Treebank,
                         WikiText): tokens are what whitespace separates, verbatim,
                         every line end is the token <eos>, and an <unk> in the text
                         is the unknown token, as the literature reads them.
    CharTokenizer        every character is a token (seed 001's character classifier).

The character language model keeps its own CharVocab (vocab.py: unknown at 0,
no padding), which existing runs were saved with.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Union

import numpy as np

from .errors import LstmlabError

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
# The line-end token of pre-tokenized corpora (WhitespaceTokenizer).
EOS = "<eos>"

# A number keeps its inner points and commas (3.5, 1,000); a word is a run of
# letters/digits, optionally with inner apostrophes or hyphens (don't, o'er,
# well-known); a run of hyphens is a dash ("him--the young man", as Project
# Gutenberg writes em dashes); anything else that is not a space is a token of
# its own (punctuation, symbols, emoji).
_WORD = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:['\u2019\-][^\W_]+)*|-{2,}|[^\w\s]|_", re.UNICODE)

# Detokenising: no space before closing punctuation, none after opening.
_NO_SPACE_BEFORE = set(".,;:!?%)]}\u2019\u201d") | {"'s", "n't"}
_NO_SPACE_AFTER = set("([{$#\u2018\u201c")


@dataclass
class _Tokenizer:
    symbols: list[str]  # symbols[0] is PAD, symbols[1] is UNK
    lowercase: bool = True
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    kind = ""

    def __post_init__(self) -> None:
        if self.symbols[:2] != [PAD, UNK]:
            raise LstmlabError("a tokenizer's first two symbols must be <pad> and <unk>; retrain the run")
        self._index = {s: i for i, s in enumerate(self.symbols)}

    def __len__(self) -> int:
        return len(self.symbols)

    def tokenize(self, text: str) -> list[str]:
        raise NotImplementedError

    @classmethod
    def build(cls, texts: Iterable[str], lowercase: bool = True, max_size: int = 0, min_freq: int = 1):
        """The vocabulary of `texts`: most frequent first (ties in sorted order),
        at most `max_size` symbols in all (0: no cap), each seen `min_freq` times."""
        probe = cls([PAD, UNK], lowercase)
        counts = Counter()
        for text in texts:
            counts.update(probe.tokenize(text))
        return cls.from_counts(counts, lowercase, max_size, min_freq)

    @classmethod
    def from_counts(cls, counts: Counter, lowercase: bool = True, max_size: int = 0, min_freq: int = 1):
        """`build` from token counts already made (prepare counts the training part only)."""
        kept = sorted((t for t, n in counts.items() if n >= min_freq and t not in (PAD, UNK)),
                      key=lambda t: (-counts[t], t))
        if max_size:
            kept = kept[: max(max_size - 2, 0)]
        return cls([PAD, UNK, *kept], lowercase)

    def extended(self, counts: Counter, min_freq: int = 1, max_size: int = 0):
        """This vocabulary with the tokens of `counts` it lacks appended (every old id keeps its
        token), most frequent first (ties in sorted order), each seen `min_freq` times; with
        `max_size` (0: no cap) only as many as keep the total within it. Returns it and the tokens
        added (--init-from: a run's vocabulary grown with a new text's words)."""
        new = [t for t, n in counts.items() if n >= min_freq and t not in self._index and t not in (PAD, UNK)]
        new.sort(key=lambda t: (-counts[t], t))
        if max_size:
            new = new[: max(max_size - len(self), 0)]
        return type(self)([*self.symbols, *new], self.lowercase), new

    def encode(self, text: str) -> np.ndarray:
        """(N,) int64 ids; tokens outside the vocabulary become UNK_ID."""
        return self.lookup(self.tokenize(text))

    def lookup(self, tokens: list[str], dtype=np.int64) -> np.ndarray:
        """Tokens already split -> (N,) ids of `dtype`; tokens outside the vocabulary become UNK_ID."""
        index = self._index
        return np.fromiter((index.get(t, UNK_ID) for t in tokens), dtype=dtype, count=len(tokens))

    def __contains__(self, token: str) -> bool:
        return token in self._index

    def unknown_share(self, text: str) -> float:
        tokens = self.tokenize(text)
        return sum(t not in self._index for t in tokens) / max(len(tokens), 1)

    def decode(self, ids) -> str:
        return self.join([self.symbols[i] for i in np.asarray(ids).reshape(-1).tolist() if i != PAD_ID])

    def join(self, tokens: list[str]) -> str:
        """Tokens back to text."""
        joiner = self.joiner()
        return "".join(joiner.piece(token) for token in tokens)

    def joiner(self) -> "Joiner":
        """A fresh Joiner: the text of generated tokens one at a time."""
        raise NotImplementedError

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "lowercase": self.lowercase, "symbols": self.symbols},
                          ensure_ascii=False, indent=0) + "\n"


class WordTokenizer(_Tokenizer):
    kind = "word"

    def tokenize(self, text: str) -> list[str]:
        return _WORD.findall(text.lower() if self.lowercase else text)

    def joiner(self) -> "Joiner":
        """Tokens back to readable text: "hello , world !" -> "hello, world!"."""
        return Joiner()


class WhitespaceTokenizer(_Tokenizer):
    """Pre-tokenized text, read as the language-modelling literature reads it (PyTorch's
    word_language_model, AWD-LSTM): `line.split() + ["<eos>"]` for every line. Case is kept
    (build() ignores `lowercase`), and "<unk>" in the text is the unknown token, id 1.

    tokenize() counts an <eos> for every newline character, so a prompt without one ends
    mid-line; whole files are read with a final newline (`as_lines`), as Python's
    `for line in file` counts a last line that has none."""

    kind = "whitespace"

    def __post_init__(self) -> None:
        self.lowercase = False
        super().__post_init__()

    def tokenize(self, text: str) -> list[str]:
        lines = text.split("\n")
        tokens: list[str] = []
        for line in lines[:-1]:
            tokens.extend(line.split())
            tokens.append(EOS)
        tokens.extend(lines[-1].split())
        return tokens

    def joiner(self) -> "Joiner":
        """Tokens joined by single spaces, <eos> as a new line."""
        return LineJoiner()


def as_lines(text: str) -> str:
    """A whole file's text ending in a newline, so that its last line counts an <eos> too."""
    return text if not text or text.endswith("\n") else text + "\n"


class LineJoiner:
    """WhitespaceTokenizer's Joiner: a space before every token but the first of a line, and
    <eos> written as a new line."""

    def __init__(self) -> None:
        self.line_start = True

    def piece(self, token: str) -> str:
        if token == EOS:
            self.line_start = True
            return "\n"
        out = token if self.line_start else " " + token
        self.line_start = False
        return out


def _hugs_next(piece: str) -> bool:
    """Does the token after `piece` follow it without a space? (opening brackets, dashes)"""
    piece = piece.strip()
    return piece in _NO_SPACE_AFTER or piece.startswith("--")


class Joiner:
    """WordTokenizer.join one token at a time, for text streamed as it is generated:
    piece(token) is the token with the space (or none) that goes before it.
    Earlier pieces never change, so the pieces concatenated equal join(tokens).
    Feed a prompt's tokens first (discarding their pieces) to continue after it."""

    def __init__(self) -> None:
        self.last = ""  # the previous piece ("" before the first token)
        self.double_quotes_open = False

    def piece(self, token: str) -> str:
        if token == '"':
            # Straight quotes alternate: an opening one hugs the next word, a closing one the last.
            self.double_quotes_open = not self.double_quotes_open
            spaced = self.last and self.double_quotes_open and not _hugs_next(self.last)
            out = (" " if spaced else "") + token
        else:
            last = self.last
            glue = (not last or token in _NO_SPACE_BEFORE or _hugs_next(last) or token.startswith("--")
                    or last == ' "' or last == '"' and self.double_quotes_open)
            out = token if glue else " " + token
        self.last = out
        return out


class CharTokenizer(_Tokenizer):
    kind = "char"

    def tokenize(self, text: str) -> list[str]:
        return list(text.lower() if self.lowercase else text)

    def joiner(self) -> "CharJoiner":
        return CharJoiner()


class CharJoiner:
    """CharTokenizer's Joiner: characters as they are; <pad> and <unk> are left out."""

    def piece(self, token: str) -> str:
        return "" if token in (PAD, UNK) else token


TOKENIZERS = {"word": WordTokenizer, "whitespace": WhitespaceTokenizer, "char": CharTokenizer}
Tokenizer = Union[WordTokenizer, WhitespaceTokenizer, CharTokenizer]


def load_tokenizer(path: Path) -> Tokenizer:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        kind, symbols, lowercase = raw["kind"], list(raw["symbols"]), bool(raw["lowercase"])
    except FileNotFoundError:
        raise LstmlabError(f"{path} is missing; the run is incomplete, train it again") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise LstmlabError(f"{path} is corrupt ({exc}); train the run again") from None
    if kind not in TOKENIZERS:
        raise LstmlabError(f"{path}: unknown tokenizer kind {kind!r}; train the run again")
    return TOKENIZERS[kind](symbols, lowercase)
