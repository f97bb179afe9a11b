"""Preparing a word-level corpus (--level word): the same recurrent model and
trainer as for characters then read word ids instead of character ids.

    text -> WordTokenizer (tokenizers.py): lowercased words, each punctuation mark
            its own token -> ids (0 <pad>, 1 <unk>) -> tokens.bin (uint16/uint32)
    or, for a corpus already tokenized (--tokenizer whitespace: PTB, WikiText),
    text -> WhitespaceTokenizer: tokens as written, <eos> at every line end

A prepared word corpus is a folder like a character one (data.py, prepare.py) with
tokenizer.json in place of vocab.json. The vocabulary is built on the training
part only (the last --val-fraction of the words is held out), so validation
words the training text never showed, or showed fewer than --min-freq times,
read as <unk> exactly as they would for a new text.

Losses are nats per word; perplexity is exp(loss), the number of equally likely
words the model is, on average, choosing between. Generation never writes
<pad> or <unk> and puts the spaces back as it goes (tokenizers.Joiner), so
"he said , “ no . ”" is streamed as: he said, “no.”
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from ..checkpoint import write_atomic
from ..errors import LstmlabError
from ..tokenizers import PAD, TOKENIZERS, UNK, UNK_ID, Tokenizer
from .config import DataConfig
from .data import PreparedCorpus

WORD_META_FORMAT = 1
_CHUNK = 1 << 22  # characters tokenised at a time, cut at a space: bounds memory on big corpora
_SPACE = re.compile(r"\s")


# ---------------------------------------------------------------------------
# Preparing a word corpus
# ---------------------------------------------------------------------------


def _chunks(text: str) -> Iterator[str]:
    """The text in slices of about _CHUNK characters, each cut at a whitespace
    character, so that no token is split (tokens never contain whitespace)."""
    start = 0
    while start < len(text):
        end = start + _CHUNK
        if end < len(text):
            space = _SPACE.search(text, end)
            end = space.start() + 1 if space else len(text)
        yield text[start:end]
        start = end


def _count(text: str, probe: Tokenizer) -> tuple[Counter, list[int]]:
    """Every token's count in `text`, and how many tokens each of its slices (_chunks) holds."""
    counts: Counter = Counter()
    sizes = []
    for chunk in _chunks(text):
        tokens = probe.tokenize(chunk)
        counts.update(tokens)
        sizes.append(len(tokens))
    return counts, sizes


def prepare_words(text: str, data_config: DataConfig, out: Path, report: Optional[Callable[[str], None]] = print,
                  val_text: Optional[str] = None, base: Optional[Tokenizer] = None):
    """Tokenise cleaned text into words, build the vocabulary on the training
    part, and write tokens.bin, tokenizer.json and meta.json into `out`. The
    training part is the text less its last --val-fraction, or, given
    `val_text` (a validation file of its own), the whole text. With `base` (a run's
    tokenizer, --init-from), the vocabulary is `base` with the training part's new words
    appended, each seen --min-freq times, --max-vocab capping the total (never `base`)."""

    probe = TOKENIZERS[data_config.tokenizer]([PAD, UNK], lowercase=bool(data_config.lowercase))
    # Pass 1: count every token, and how many each slice holds.
    counts, sizes = _count(text, probe)
    texts = [(text, sizes)]
    if val_text is None:
        num_tokens = sum(sizes)
        if num_tokens < 2:
            raise LstmlabError(f"{data_config.source} holds {num_tokens} word(s) after cleaning; "
                               "a word-level model needs a real text (thousands of words)")
        train_tokens = num_tokens - max(1, int(round(num_tokens * data_config.val_fraction)))
        # The vocabulary sees the training part only: take the held-out words' counts back out.
        val_counts: Counter = Counter()
        seen = 0
        for chunk, size in zip(_chunks(text), sizes):
            if seen + size > train_tokens:
                val_counts.update(probe.tokenize(chunk)[max(0, train_tokens - seen):])
            seen += size
        train_counts = counts - val_counts
    else:
        val_counts, val_sizes = _count(val_text, probe)
        train_tokens, val_tokens = sum(sizes), sum(val_sizes)
        for where, n in ((data_config.source, train_tokens), (data_config.val_source, val_tokens)):
            if n < 2:
                raise LstmlabError(f"{where} holds {n} word(s) after cleaning; a word-level model needs a real "
                                   "text (thousands of words)")
        num_tokens = train_tokens + val_tokens
        train_counts = counts
        texts.append((val_text, val_sizes))
    if base is None:
        tokenizer = TOKENIZERS[data_config.tokenizer].from_counts(train_counts, bool(data_config.lowercase),
                                                                 data_config.max_vocab, data_config.min_freq)
    else:
        tokenizer, _ = base.extended(train_counts, data_config.min_freq, data_config.max_vocab)
    if len(tokenizer) < 3:
        raise LstmlabError(f"no word of the training part of {data_config.source} appears --min-freq "
                           f"{data_config.min_freq} times; lower --min-freq or give a longer text")
    # Pass 2: encode.
    dtype = np.dtype(np.uint16 if len(tokenizer) <= 65536 else np.uint32)
    ids = np.empty(num_tokens, dtype=dtype)
    start = 0
    for part, part_sizes in texts:
        for chunk, size in zip(_chunks(part), part_sizes):
            ids[start : start + size] = tokenizer.lookup(probe.tokenize(chunk), dtype=dtype)
            start += size

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "tokens.bin", memoryview(ids))
    write_atomic(out / "tokenizer.json", tokenizer.to_json().encode("utf-8"))
    unknown_train = int(np.count_nonzero(ids[:train_tokens] == UNK_ID))
    unknown_val = int(np.count_nonzero(ids[train_tokens:] == UNK_ID))
    meta = {
        "format": WORD_META_FORMAT,
        "level": "word",
        "dtype": dtype.name,
        "num_tokens": num_tokens,
        "train_tokens": train_tokens,
        "unknown_train_tokens": unknown_train,
        "unknown_val_tokens": unknown_val,
        "data": dataclasses.asdict(data_config),
    }
    # meta.json goes last: its presence marks the folder as complete.
    write_atomic(out / "meta.json", (json.dumps(meta, indent=2) + "\n").encode("utf-8"))
    if report:
        report(word_statistics(train_counts, tokenizer, num_tokens, train_tokens, unknown_train, unknown_val,
                               data_config))
        # Raw text expects rare words to read as <unk> (the "unknown" line says how many); a
        # pre-tokenized corpus's vocabulary is given, and a type outside it is worth a warning.
        unseen = data_config.tokenizer == "whitespace" and unseen_text(val_counts, tokenizer, "the validation text",
                                                                       unknown_train)
        if unseen:
            report(f"warning: {unseen}")
    return PreparedCorpus.open(out)


def unseen_text(counts: Counter, tokenizer: Tokenizer, what: str, unknown_in_training: Optional[int]) -> str:
    """A warning about the types of a held-out text (its token `counts`) that the vocabulary lacks,
    or "" when it has them all. <unk> written in the text is not unseen: it is the unknown token.
    unknown_in_training: how many training tokens read as <unk> (None: not known)."""
    unseen = {t: n for t, n in counts.items() if t != UNK and t not in tokenizer}
    if not unseen:
        return ""
    share = sum(unseen.values()) / max(sum(counts.values()), 1)
    shown = " ".join(repr(t) for t in list(unseen)[:5]) + (" ..." if len(unseen) > 5 else "")
    line = (f"{len(unseen):,} types of {what} ({share:.2%} of its tokens) are not in the vocabulary and read as "
            f"<unk>: {shown}")
    if unknown_in_training == 0:
        line += ("; the training text has no <unk>, so the model gives <unk> almost no probability and they "
                 "score badly: map rare words to <unk> in the training text too (as PTB and WikiText do), or "
                 "train with --min-freq 2")
    return line


def word_statistics(train_counts: Counter, tokenizer: Tokenizer, num_tokens: int, train_tokens: int,
                    unknown_train: int, unknown_val: int, data_config: DataConfig, top: int = 30,
                    columns: int = 5) -> str:
    """Sizes, vocabulary, coverage, <unk> shares and the most common words."""
    val_tokens = num_tokens - train_tokens
    words = len(tokenizer) - 2
    distinct = len(train_counts)
    cap = f"--max-vocab {data_config.max_vocab:,}" if data_config.max_vocab else "no --max-vocab cap"
    lines = [
        f"words: {num_tokens:,} tokens (train {train_tokens:,}, validation {val_tokens:,}); "
        f"{distinct:,} distinct in the training part",
        f"vocabulary: {len(tokenizer):,} symbols ({words:,} words and marks + <pad> + <unk>; "
        f"--min-freq {data_config.min_freq}, {cap}; built on the training part only)",
        f"coverage: the vocabulary keeps {words:,} of {distinct:,} distinct training words "
        f"({words / max(distinct, 1):.1%}) and covers {1 - unknown_train / max(train_tokens, 1):.2%} of training tokens",
        f"unknown: {unknown_train / max(train_tokens, 1):.2%} of training tokens ({unknown_train:,}) and "
        f"{unknown_val / max(val_tokens, 1):.2%} of validation tokens ({unknown_val:,}) read as <unk>",
        "most common (of the training part):",
    ]
    common = train_counts.most_common(top)
    width = max((len(repr(word)) for word, _ in common), default=1)
    cells = [f"{word!r:>{width}} {n:>7,}" for word, n in common]
    for start in range(0, len(cells), columns):
        lines.append("  " + "  ".join(cells[start : start + columns]))
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# A trained word model
# ---------------------------------------------------------------------------
