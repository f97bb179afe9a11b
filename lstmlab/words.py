"""Word-level language models (--level word): the same recurrent model and
trainer as for characters, reading word ids instead of character ids.

    text -> WordTokenizer (tokenizers.py): lowercased words, each punctuation mark
            its own token -> ids (0 <pad>, 1 <unk>) -> tokens.bin (uint16/uint32)

A prepared word corpus is a folder like a character one (data.py) with
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
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

import numpy as np
import torch

from .api import LanguageModel, _check_sampling, _warn
from .checkpoint import write_atomic
from .config import DataConfig
from .errors import LstmlabError
from .lm import LN2
from .tokenizers import PAD, PAD_ID, UNK, UNK_ID, Joiner, WordTokenizer

WORD_META_FORMAT = 1
_CHUNK = 1 << 22  # characters tokenised at a time, cut at a space: bounds memory on big corpora
_SPACE = re.compile(r"\s")

# Model and training defaults for word level, where they differ from the
# character defaults (config.py); any of them given explicitly wins. Chosen
# with benchmarks/word_lm.py on crime_and_punishment.txt (BENCHMARKS.md).
WORD_MODEL_DEFAULTS: dict[str, Any] = {"embed_dim": 256, "dropout": 0.3}
WORD_TRAIN_DEFAULTS: dict[str, Any] = {"seq_len": 64, "lr": 2e-3, "eval_every": 100}
WORD_ONLY = ("max_vocab", "min_freq")


def check_level_settings(data_settings: dict[str, Any], level: Optional[str] = None) -> None:
    """Flags that belong to the other level are mistakes, not silently ignored."""
    level = level or data_settings.get("level", "char")
    if level != "word":
        given = [name for name in WORD_ONLY if name in data_settings]
        if given:
            flags = " and ".join("--" + name.replace("_", "-") for name in given)
            raise LstmlabError(f"{flags} apply to word-level models; add --level word, or drop them")
    elif "min_count" in data_settings:
        raise LstmlabError("--min-count is for characters; with --level word, rare words are cut by --min-freq")


def with_word_defaults(model_settings: dict[str, Any], train_settings: dict[str, Any]) -> tuple[dict, dict]:
    return {**WORD_MODEL_DEFAULTS, **model_settings}, {**WORD_TRAIN_DEFAULTS, **train_settings}


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


def prepare_words(text: str, data_config: DataConfig, out: Path, report: Optional[Callable[[str], None]] = print):
    """Tokenise cleaned text into words, build the vocabulary on the training
    part, and write tokens.bin, tokenizer.json and meta.json into `out`."""
    from .data import PreparedCorpus

    probe = WordTokenizer([PAD, UNK], lowercase=bool(data_config.lowercase))
    # Pass 1: count every token, and how many each slice holds.
    counts: Counter = Counter()
    sizes = []
    for chunk in _chunks(text):
        tokens = probe.tokenize(chunk)
        counts.update(tokens)
        sizes.append(len(tokens))
    num_tokens = sum(sizes)
    if num_tokens < 2:
        raise LstmlabError(f"{data_config.source} holds {num_tokens} word(s) after cleaning; "
                           "a word-level model needs a real text (thousands of words)")
    train_tokens = num_tokens - max(1, int(round(num_tokens * data_config.val_fraction)))
    # The vocabulary sees the training part only: take the held-out words' counts back out.
    held_out: Counter = Counter()
    seen = 0
    for chunk, size in zip(_chunks(text), sizes):
        if seen + size > train_tokens:
            held_out.update(probe.tokenize(chunk)[max(0, train_tokens - seen):])
        seen += size
    train_counts = counts - held_out
    tokenizer = WordTokenizer.from_counts(train_counts, bool(data_config.lowercase), data_config.max_vocab,
                                          data_config.min_freq)
    if len(tokenizer) < 3:
        raise LstmlabError(f"no word of the training part of {data_config.source} appears --min-freq "
                           f"{data_config.min_freq} times; lower --min-freq or give a longer text")
    # Pass 2: encode.
    dtype = np.dtype(np.uint16 if len(tokenizer) <= 65536 else np.uint32)
    ids = np.empty(num_tokens, dtype=dtype)
    start = 0
    for chunk, size in zip(_chunks(text), sizes):
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
    return PreparedCorpus.open(out)


def word_statistics(train_counts: Counter, tokenizer: WordTokenizer, num_tokens: int, train_tokens: int,
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


@dataclass(frozen=True)
class WordScore:
    """A word-level model's score of a text: nats per word and perplexity."""

    nats_per_word: float
    words: int
    unknown_share: float = 0.0  # share of the text's words that read as <unk> (scored like any word)

    @property
    def perplexity(self) -> float:
        return math.exp(self.nats_per_word)

    @property
    def bits_per_word(self) -> float:
        return self.nats_per_word / LN2

    def __str__(self) -> str:
        return (f"perplexity {self.perplexity:,.1f} ({self.nats_per_word:.3f} nats/word, {self.bits_per_word:.3f} "
                f"bits/word) over {self.words:,} words; {self.unknown_share:.1%} of the text's words are <unk>")


class WordLanguageModel(LanguageModel):
    """A trained word-level run: generate, stream and evaluate as for characters,
    plus next_word_probs. `vocab` and `tokenizer` are its WordTokenizer."""

    def __init__(self, run_dir: Path, config, tokenizer: WordTokenizer, model):
        super().__init__(run_dir, config, tokenizer, model)
        self.tokenizer = tokenizer

    def tokenize(self, text: str) -> list[str]:
        """The words of `text`, normalised as the training text was."""
        return self.tokenizer.tokenize(self.normalize(text))

    def _ids(self, tokens: list[str], warn: Optional[Callable[[str], None]]) -> np.ndarray:
        unknown = list(dict.fromkeys(t for t in tokens if t not in self.tokenizer))
        if unknown and warn:
            shown = " ".join(repr(t) for t in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
            warn(f"{len(unknown)} word(s) not in the model's vocabulary are read as <unk>: {shown}")
        return self.tokenizer.lookup(tokens)

    def encode(self, text: str, warn: Optional[Callable[[str], None]] = _warn) -> np.ndarray:
        return self._ids(self.tokenizer.tokenize(text), warn)

    def prompt_text(self, prompt: str) -> str:
        # Generated words bring their own leading space.
        return self.normalize(prompt).rstrip()

    def stream(self, prompt: str = "", length: int = 100, temperature: float = 0.7, top_k: Optional[int] = None,
               top_p: Optional[float] = None, num_samples: int = 1, seed: Optional[int] = None,
               warn: Optional[Callable[[str], None]] = _warn) -> Iterator[list[str]]:
        """Yield one list of `num_samples` pieces of text per generated word: the
        word with the space that goes before it (none before "," or after "(")."""
        _check_sampling(length, temperature, top_k, top_p, num_samples)
        tokens = self.tokenize(prompt)
        ids = torch.from_numpy(self._ids(tokens, warn)).long()
        joiners = [Joiner() for _ in range(num_samples)]
        for joiner in joiners:  # the prompt decides the first word's spacing (after "(", inside quotes...)
            for token in tokens:
                joiner.piece(token)
        batch = ids.unsqueeze(0).expand(num_samples, -1).contiguous()  # (N, P)
        symbols = self.tokenizer.symbols
        for next_ids in self.model.generate(batch, length, temperature, top_k, top_p, seed,
                                            suppress=(PAD_ID, UNK_ID)):
            yield [joiner.piece(symbols[i]) for joiner, i in zip(joiners, next_ids.tolist())]

    def generate(self, prompt: str = "", length: int = 100, temperature: float = 0.7, top_k: Optional[int] = None,
                 top_p: Optional[float] = None, num_samples: int = 1, seed: Optional[int] = None) -> Union[str, list[str]]:
        """The (normalised) prompt followed by `length` generated words, detokenised.
        Returns a string, or a list of strings when num_samples > 1."""
        pieces: list[list[str]] = [[] for _ in range(num_samples)]
        for step in self.stream(prompt, length, temperature, top_k, top_p, num_samples, seed):
            for sample, piece in zip(pieces, step):
                sample.append(piece)
        head = self.prompt_text(prompt)
        texts = [head + "".join(p) for p in pieces]
        return texts[0] if num_samples == 1 else texts

    def next_word_probs(self, text: str = "", top: Optional[int] = 10,
                        warn: Optional[Callable[[str], None]] = _warn) -> dict[str, float]:
        """The `top` likeliest next words after `text` (normalised first) and their
        probabilities, likeliest first; top=None gives every word. "<unk>" stands
        for all the words outside the vocabulary together; <pad> is never a next
        word and is left out (the others sum to 1)."""
        if top is not None and top < 1:
            raise LstmlabError(f"top must be at least 1 (or None for every word), got {top}")
        ids = torch.from_numpy(self.encode(self.normalize(text), warn)).long()
        with torch.inference_mode():
            if len(ids):
                logits, _ = self.model(ids[None])
                logits = logits[0, -1]
            else:  # nothing read yet: the all-zero state
                logits = self.model.head(torch.zeros(self.config.model.hidden_sizes[-1]))
            logits = logits.double()
            logits[PAD_ID] = -math.inf  # padding is never a next word
            probs = torch.softmax(logits, dim=-1).numpy()
        probs[PAD_ID] = -1.0  # sorts last, and is cut below
        order = np.argsort(-probs, kind="stable")[: (len(probs) - 1 if top is None else min(top, len(probs) - 1))]
        return {self.tokenizer.symbols[i]: float(probs[i]) for i in order}

    def next_char_probs(self, text: str, warn=_warn) -> dict[str, float]:
        raise LstmlabError(f"next_char_probs is for character-level runs; {self.run_dir} is word-level: "
                           "use next_word_probs(text, top=10)")

    def inspect(self, text: str, warn=_warn):
        raise LstmlabError(f"inspect draws a character-level run's gates character by character; {self.run_dir} "
                           "is word-level (train with --level char to inspect)")

    def evaluate(self, text: str, warn: Optional[Callable[[str], None]] = None) -> WordScore:
        """Average negative log-likelihood per word of `text` (cleaned like the
        training text), each word given all before it, and its perplexity."""
        nll, count, ids = self._score(text, warn, "words")
        return WordScore(nll / count, count, float(np.mean(ids[1:] == UNK_ID)))
