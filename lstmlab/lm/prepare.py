"""Preparing a corpus: read, clean and encode a text into a folder that training reads.

    source -> corpus.load_text -> corpus.clean_text -> ids -> tokens.bin + vocab.json + meta.json

Character level here; word level in words.py (tokenizer.json instead of vocab.json).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable

import numpy as np

from ..checkpoint import write_atomic
from ..errors import LstmlabError
from . import corpus
from .config import DataConfig
from .data import META_FORMAT, PreparedCorpus
from .vocab import CharVocab, count_chars
from .words import prepare_words


def prepare(data_config: DataConfig, out: Path, report: Callable[[str], None] | None = print) -> PreparedCorpus:
    """Read, clean and encode `data_config.source` into the folder `out`."""
    text = corpus.load_text(data_config.source, encoding=data_config.encoding)
    text = corpus.clean_text(
        text,
        strip_gutenberg_boilerplate=data_config.strip_gutenberg,
        lowercase=data_config.lowercase,
        collapse_whitespace=data_config.collapse_whitespace,
    )
    if data_config.level == "word":
        return prepare_words(text, data_config, Path(out), report)
    if len(text) < 2:
        raise LstmlabError(f"{data_config.source} holds {len(text)} character(s) after cleaning; give a longer text")
    counts = count_chars(text)
    vocab = CharVocab.build(counts, data_config.min_count)
    if len(vocab) < 3:
        raise LstmlabError(f"{data_config.source} has fewer than 2 distinct characters after cleaning; give a real text")

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ids = vocab.encode(text, dtype=vocab.dtype)
    write_atomic(out / "tokens.bin", memoryview(ids))  # no copy of a big array
    write_atomic(out / "vocab.json", vocab.to_json().encode("utf-8"))
    train_chars = len(ids) - max(1, int(round(len(ids) * data_config.val_fraction)))
    meta = {
        "format": META_FORMAT,
        "dtype": vocab.dtype.name,
        "num_chars": len(ids),
        "train_chars": train_chars,
        "unknown_chars": int(np.count_nonzero(ids == 0)),
        "data": dataclasses.asdict(data_config),
    }
    # meta.json goes last: its presence marks the folder as complete.
    write_atomic(out / "meta.json", (json.dumps(meta, indent=2) + "\n").encode("utf-8"))
    if report:
        report(corpus_statistics(counts, vocab, len(ids), train_chars, meta["unknown_chars"]))
    return PreparedCorpus.open(out)


def corpus_statistics(counts, vocab: CharVocab, num_chars: int, train_chars: int, unknown: int, columns: int = 6) -> str:
    """Corpus size, vocabulary and a frequency table, most frequent first (as seed 000 prints)."""
    lines = [
        f"characters: {num_chars:,} (train {train_chars:,}, validation {num_chars - train_chars:,})",
        f"vocabulary: {len(vocab)} symbols ({len(vocab) - 1} characters + unknown; {unknown:,} characters mapped to unknown)",
        "frequencies:",
    ]
    cells = [f"{_show(ch):>6} {n:>9,}" for ch, n in counts.most_common()]
    for start in range(0, len(cells), columns):
        lines.append("  " + "  ".join(cells[start : start + columns]))
    return "\n".join(lines)


def _show(ch: str) -> str:
    return {" ": "' '", "\n": "\\n", "\t": "\\t"}.get(ch, ch if ch.isprintable() else f"U+{ord(ch):04X}")
