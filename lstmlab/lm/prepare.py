"""Preparing a corpus: read, clean and encode a text into a folder that training reads.

    source -> corpus.load_text -> corpus.clean_text -> ids -> tokens.bin + vocab.json + meta.json

Character level here; word level in words.py (tokenizer.json instead of vocab.json).
tokens.bin holds the training text's ids, then the validation text's: the last
--val-fraction of the source, or a validation file of its own (--val FILE, or
the valid.txt of a standard split folder, see `standard_split`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from ..checkpoint import write_atomic
from ..errors import LstmlabError
from . import corpus
from ..tokenizers import Tokenizer, as_lines
from .config import SPLIT_FILES, DataConfig
from .data import META_FORMAT, PreparedCorpus
from .vocab import CharVocab, count_chars
from .words import prepare_words

Vocabulary = Union[CharVocab, Tokenizer]


def standard_split(source: str) -> Optional[Path]:
    """The folder `source` if it holds a standard split (train.txt, valid.txt, test.txt as in
    PTB, WikiText and PyTorch's word_language_model), else None. A folder with valid.txt or
    test.txt but no train.txt is an error: read whole, its test text would leak into training."""
    folder = Path(source).expanduser()
    if not folder.is_dir():
        return None
    train, valid, test = (folder / name for name in SPLIT_FILES)
    if train.is_file():
        return folder
    if valid.is_file() or test.is_file():
        raise LstmlabError(f"{folder} holds {'valid.txt' if valid.is_file() else 'test.txt'} but no train.txt; "
                           "name the training text train.txt (the split of PTB and WikiText), or give a single file")
    return None


def split_settings_of(source: str, settings: dict[str, Any], log: Optional[Callable[[str], None]] = print
                      ) -> tuple[str, dict[str, Any]]:
    """A standard split folder read as the literature reads it: training on train.txt, validation on
    valid.txt (unless --val names another), test.txt never read, and at word level the corpus
    taken as already tokenized (--tokenizer whitespace) unless another tokenizer is given.
    Returns the source to read and the settings; other sources come back unchanged."""
    folder = standard_split(source)
    if folder is None:
        return source, settings
    settings = dict(settings)
    valid = folder / SPLIT_FILES[1]
    if "val_source" not in settings and valid.is_file():
        settings["val_source"] = str(valid)
    if settings.get("level") == "word" and "tokenizer" not in settings:
        settings["tokenizer"] = "whitespace"
    if log:
        val = (f"validating on {settings['val_source']}" if settings.get("val_source")
               else f"no valid.txt: validating on the last --val-fraction of {SPLIT_FILES[0]}")
        read = (", read as pre-tokenized text (--tokenizer whitespace: tokens as written, <eos> at each line end)"
                if settings.get("tokenizer") == "whitespace" else "")
        log(f"{folder} is a standard split: training on {folder / SPLIT_FILES[0]}, {val}; "
            f"{SPLIT_FILES[2]} is never read (score it with lstmlab evaluate RUN {folder / SPLIT_FILES[2]}){read}")
    return str(folder / SPLIT_FILES[0]), settings


def read_text(source: str, data_config: DataConfig) -> str:
    """A source's text cleaned as `data_config` says; a pre-tokenized corpus is read verbatim,
    ending with a newline so that its last line has its <eos>."""
    text = corpus.load_text(source, encoding=data_config.encoding)
    if data_config.tokenizer == "whitespace":
        return as_lines(text)
    return corpus.clean_text(
        text,
        strip_gutenberg_boilerplate=data_config.strip_gutenberg,
        lowercase=data_config.lowercase,
        collapse_whitespace=data_config.collapse_whitespace,
    )


def prepare(data_config: DataConfig, out: Path, report: Callable[[str], None] | None = print,
            base: Optional[Vocabulary] = None) -> PreparedCorpus:
    """Read, clean and encode `data_config.source` (and its validation text, if it has one of
    its own) into the folder `out`. With `base` (a run's vocabulary, --init-from), the vocabulary
    is `base` with the training part's new symbols appended (min_count or min_freq times seen)."""
    text = read_text(data_config.source, data_config)
    val_text = read_text(data_config.val_source, data_config) if data_config.val_source else None
    if data_config.level == "word":
        return prepare_words(text, data_config, Path(out), report, val_text=val_text, base=base)
    if len(text) < 2:
        raise LstmlabError(f"{data_config.source} holds {len(text)} character(s) after cleaning; give a longer text")
    if val_text is not None and len(val_text) < 2:
        raise LstmlabError(f"{data_config.val_source} holds {len(val_text)} character(s) after cleaning; "
                           "give a longer validation text")
    # With a validation text of its own the alphabet is the training text's, as for words.
    counts = count_chars(text)
    if base is None:
        vocab = CharVocab.build(counts, data_config.min_count)
    else:
        held_out = held_out_size(len(text), data_config)  # the vocabulary sees the training part only
        train_counts = counts - count_chars(text[len(text) - held_out:]) if held_out else counts
        vocab, _ = base.extended(train_counts, data_config.min_count)
    if len(vocab) < 3:
        raise LstmlabError(f"{data_config.source} has fewer than 2 distinct characters after cleaning; give a real text")

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if val_text is None:
        ids = vocab.encode(text, dtype=vocab.dtype)
        train_chars = len(ids) - held_out_size(len(ids), data_config)
    else:
        ids = np.concatenate([vocab.encode(text, dtype=vocab.dtype), vocab.encode(val_text, dtype=vocab.dtype)])
        train_chars = len(text)
    write_atomic(out / "tokens.bin", memoryview(ids))  # no copy of a big array
    write_atomic(out / "vocab.json", vocab.to_json().encode("utf-8"))
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


def held_out_size(size: int, data_config: DataConfig) -> int:
    """How many of a text's `size` symbols are held out for validation: the last --val-fraction
    (at least one), or none when the validation text is a file of its own."""
    return 0 if data_config.val_source else max(1, int(round(size * data_config.val_fraction)))


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
