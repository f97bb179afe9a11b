"""The language model's settings: the text, the network, and what it is trained to predict.

A run's config.json holds them as RunConfig: data, model, objective and the
task-neutral train section (lstmlab/config.py).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..config import (CELLS, MAX_LAYER_SIZE, MAX_SEQUENCE_LENGTH, MAX_VOCAB_SIZE, RETIRED_TRAIN_FIELDS, TrainConfig,
                      build_run_config, read_run_json, require, train_config_from_json)
from ..errors import LstmlabError

OBJECTIVES = ("tbptt", "window")
LEVELS = ("char", "word")
# How a symbol enters the first recurrent layer (ModelConfig.input).
INPUTS = ("embedding", "one-hot", "scaled-id")
# The inputs that are a fixed table, with nothing to learn and no embed_dim.
FIXED_INPUTS = ("one-hot", "scaled-id")


# How a word-level text is split into tokens (tokenizers.py): word splits raw text into words
# and punctuation marks; whitespace reads a corpus that is already tokenized (PTB, WikiText).
WORD_TOKENIZERS = ("word", "whitespace")
# The files of a standard split (PTB, WikiText, PyTorch's word_language_model): a folder
# holding them trains on the first and validates on the second; the third is never read.
SPLIT_FILES = ("train.txt", "valid.txt", "test.txt")


@dataclass(frozen=True)
class DataConfig:
    """Where the text comes from and how it is cleaned before encoding."""

    source: str = "builtin:shakespeare"
    # char: one token per character (vocab.json). word: tokens from `tokenizer`
    # (saved as tokenizer.json). Runs saved before word models existed have no
    # `level` and load as char.
    level: str = "char"
    encoding: str = "utf-8"
    # None: True for raw text; a pre-tokenized corpus (--tokenizer whitespace) is read verbatim.
    strip_gutenberg: Optional[bool] = None
    # None: the level's default, resolved here and saved as true/false:
    # characters keep their case, words are lowercased ("The" and "the" share
    # one entry of a vocabulary that is otherwise quickly exhausted), and a
    # pre-tokenized corpus keeps its tokens verbatim.
    lowercase: Optional[bool] = None
    collapse_whitespace: bool = False
    # Characters seen fewer times than this map to the unknown symbol (char level).
    min_count: int = 1
    # Word level: "word" or "whitespace" (WORD_TOKENIZERS); None is resolved from the
    # level (and saved): word for --level word, as runs saved before this field read.
    tokenizer: Optional[str] = None
    # Word level: the vocabulary is built on the training part only and holds
    # at most max_vocab symbols (<pad> and <unk> included; 0: no cap), each a
    # token seen at least min_freq times; the rest read as <unk>. None: the
    # tokenizer's default, resolved here and saved: 20,000 and 2 for raw text,
    # no cut (0 and 1) for a pre-tokenized corpus, whose vocabulary is given.
    max_vocab: Optional[int] = None
    min_freq: Optional[int] = None
    # The last fraction of the text is held out for validation (nanoGPT's
    # shakespeare_char takes the last 10% too), so validation text is text the
    # model has never seen, not a shuffled sample of overlapping windows.
    val_fraction: float = 0.1
    # A validation text of its own (--val FILE, or valid.txt of a split folder), in place
    # of val_fraction: the whole source is then training text.
    val_source: str = ""

    def __post_init__(self) -> None:
        require(self.level in LEVELS, f"unknown --level {self.level!r}; choose {' or '.join(LEVELS)}")
        if self.level == "char":
            require(self.tokenizer in (None, "char"),
                    f"--tokenizer {self.tokenizer} reads word tokens; add --level word, or drop --tokenizer "
                    "(a character model reads every character)")
        else:
            if self.tokenizer is None:
                object.__setattr__(self, "tokenizer", "word")
            require(self.tokenizer in WORD_TOKENIZERS,
                    f"unknown --tokenizer {self.tokenizer!r}; choose {' or '.join(WORD_TOKENIZERS)}")
        verbatim = self.tokenizer == "whitespace"
        if self.lowercase is None:
            object.__setattr__(self, "lowercase", self.level == "word" and not verbatim)
        if self.strip_gutenberg is None:
            object.__setattr__(self, "strip_gutenberg", not verbatim)
        if self.max_vocab is None:
            object.__setattr__(self, "max_vocab", 0 if verbatim else 20_000)
        if self.min_freq is None:
            object.__setattr__(self, "min_freq", 1 if verbatim else 2)
        require(self.min_count >= 1, f"--min-count must be at least 1, got {self.min_count}")
        require(self.max_vocab == 0 or self.max_vocab >= 3,
                 f"--max-vocab must be at least 3 (<pad>, <unk> and one word), or 0 for no cap; got {self.max_vocab}")
        require(self.min_freq >= 1, f"--min-freq must be at least 1, got {self.min_freq}")
        require(
            0.0 < self.val_fraction < 1.0,
            f"--val-fraction must be between 0 and 1 (exclusive), got {self.val_fraction}; try 0.1",
        )


@dataclass(frozen=True)
class ModelConfig:
    """Embedding -> stacked recurrent layers -> linear head."""

    vocab_size: int
    cell: str = "lstm"
    hidden_sizes: tuple[int, ...] = (512,)
    # 0 feeds one-hot vectors instead of a learned embedding, as seeds 001 and
    # 004 do (and as imported one-hot Keras models need).
    embed_dim: int = 64
    # How each symbol enters the first layer. embedding: a learned table of
    # embed_dim numbers. one-hot: a fixed identity table (the same as
    # embed_dim 0). scaled-id: seeds 003 and 004's single number per character,
    # its sorted index / n (model.scaled_id_table), there only to reproduce
    # them: neighbours such as 'a' and 'b' look nearly alike to the network.
    # The fixed ones learn nothing, so their embed_dim is saved as 0. None, as
    # in runs saved before this field existed, is read from embed_dim.
    input: Optional[str] = None
    # Applied between recurrent layers and before the head, a fresh draw per
    # number and time step (a fresh mask per step on the recurrent connections
    # would disturb the memory the cell is meant to keep).
    dropout: float = 0.0
    # The same kind of dropout on the embedding's output, the first layer's input: Zaremba et al.
    # (2014) and PyTorch's word_language_model drop every non-recurrent connection, this one
    # included. None, as in runs saved before this field existed, is 0; word-level runs default
    # to `dropout`'s rate (with_word_defaults).
    embed_dropout: Optional[float] = None
    # Keras' recurrent_dropout (Gal & Ghahramani 2016): one mask per sequence
    # on h_{t-1} where it enters the recurrent product, the same at every step,
    # so the memory is thinned the same way throughout. Training then runs a
    # stepped loop instead of the fused kernel (cells.py).
    recurrent_dropout: float = 0.0
    # Keras' dropout= of a recurrent layer: one mask per sequence on every
    # recurrent layer's input features, the same at every step (stack.py).
    input_dropout: float = 0.0
    # Share the embedding matrix with the output layer; needs embed_dim equal to
    # the last hidden size.
    tie_embeddings: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        require(self.cell in CELLS, f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        require(self.vocab_size >= 2, f"the vocabulary has {self.vocab_size} symbol(s); the corpus needs at least 2 distinct characters")
        require(self.vocab_size <= MAX_VOCAB_SIZE,
                f"the vocabulary has {self.vocab_size:,} symbols, more than a model takes ({MAX_VOCAB_SIZE:,}); "
                "give a smaller --vocab-size, or cap a word vocabulary with --max-vocab")
        require(
            len(self.hidden_sizes) >= 1 and all(h >= 1 for h in self.hidden_sizes),
            f"--hidden needs positive layer sizes such as 512 or 256,128, got {','.join(map(str, self.hidden_sizes)) or 'nothing'}",
        )
        require(max(self.hidden_sizes) <= MAX_LAYER_SIZE,
                f"--hidden layer sizes must be at most {MAX_LAYER_SIZE:,}, got {max(self.hidden_sizes):,}; try 512 or 256,128")
        if self.input is None:
            object.__setattr__(self, "input", "one-hot" if self.embed_dim == 0 else "embedding")
        require(self.input in INPUTS, f"unknown --input {self.input!r}; choose one of {', '.join(INPUTS)}")
        if self.input in FIXED_INPUTS:
            # A fixed table has no width to choose; an explicit --embed-dim with it is refused
            # earlier (check_input_settings), a default one (e.g. word level's) is dropped here.
            object.__setattr__(self, "embed_dim", 0)
        require(self.embed_dim >= 0, f"--embed-dim must be positive, or 0 for one-hot inputs; got {self.embed_dim}")
        require(self.embed_dim <= MAX_LAYER_SIZE, f"--embed-dim must be at most {MAX_LAYER_SIZE:,}, got {self.embed_dim:,}; try 64")
        require(self.input != "embedding" or self.embed_dim >= 1,
                "--input embedding needs a positive --embed-dim (0 meant one-hot: pass --input one-hot)")
        # Layer norm rescales the input product x * w_ih to unit spread, and for one number x
        # that leaves only its sign: every character would enter the network alike.
        require(not (self.input == "scaled-id" and self.cell == "layernorm-lstm"),
                "--cell layernorm-lstm normalises away the one number --input scaled-id feeds (every character "
                "would read alike); use another --cell, or --input embedding")
        require(0.0 <= self.dropout < 1.0, f"--dropout must be in [0, 1), got {self.dropout}")
        if self.embed_dropout is None:
            object.__setattr__(self, "embed_dropout", 0.0)
        require(0.0 <= self.embed_dropout < 1.0, f"--embed-dropout must be in [0, 1), got {self.embed_dropout}")
        require(0.0 <= self.recurrent_dropout < 1.0,
                f"--recurrent-dropout must be in [0, 1), got {self.recurrent_dropout}; try 0.2")
        require(0.0 <= self.input_dropout < 1.0, f"--input-dropout must be in [0, 1), got {self.input_dropout}; try 0.2")
        require(
            not (self.tie_embeddings and self.input in FIXED_INPUTS),
            "--tie-embeddings needs a learned embedding; drop it or give --embed-dim a positive size",
        )
        require(
            not self.tie_embeddings or self.embed_dim == self.hidden_sizes[-1],
            f"--tie-embeddings needs --embed-dim equal to the last hidden size "
            f"({self.embed_dim} vs {self.hidden_sizes[-1]}); pass --embed-dim {self.hidden_sizes[-1]}",
        )

    @property
    def one_hot(self) -> bool:
        return self.input == "one-hot"

    @property
    def input_size(self) -> int:
        """Width of what the first recurrent layer reads."""
        return {"one-hot": self.vocab_size, "scaled-id": 1}.get(self.input, self.embed_dim)


@dataclass(frozen=True)
class ObjectiveConfig:
    """What the language model is trained to predict, on which slices of the text."""

    # tbptt: every character is a target and the hidden state flows from one
    # chunk to the next (char-rnn). window: the seeds' recipe, a fixed window
    # read from a fresh state and only its next character is a target.
    objective: str = "tbptt"
    seq_len: int = 128
    window: int = 50
    step: int = 3
    # Validation reads at most this many held-out characters (or words) so that
    # evaluation stays cheap on a 1 GB corpus. 0 means all of them.
    eval_chars: int = 200_000

    def __post_init__(self) -> None:
        require(self.objective in OBJECTIVES, f"unknown --objective {self.objective!r}; choose {' or '.join(OBJECTIVES)}")
        for name in ("seq_len", "window", "step"):
            value = getattr(self, name)
            require(value >= 1, f"--{name.replace('_', '-')} must be at least 1, got {value}")
        for name in ("seq_len", "window"):  # --step is a distance between windows: any size only thins them
            value = getattr(self, name)
            require(value <= MAX_SEQUENCE_LENGTH,
                    f"--{name.replace('_', '-')} must be at most {MAX_SEQUENCE_LENGTH:,} steps, got {value:,}; "
                    f"try the default, {getattr(type(self), name)}")
        require(self.eval_chars >= 0, f"--eval-chars must be >= 0, got {self.eval_chars}")


@dataclass(frozen=True)
class RunConfig:
    """Everything needed to rebuild a run: written once as RUN/config.json."""

    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    objective: ObjectiveConfig = ObjectiveConfig()
    # The prepared corpus the run reads (RUN/data unless a prepared folder was given).
    data_dir: str = ""
    version: str = field(default="")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config") -> "RunConfig":
        raw = dict(raw)
        train = raw.get("train", {})
        if "objective" not in raw and isinstance(train, dict):
            # Saved before the objective had its own section: its fields sit in "train".
            raw["objective"] = {k: v for k, v in train.items() if k in RETIRED_TRAIN_FIELDS}
        raw["train"] = train_config_from_json(train, f"{where}.train")
        parts = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig, "objective": ObjectiveConfig}
        return build_run_config(cls, raw, parts, where, data_dir=str(raw.get("data_dir", "")),
                                version=str(raw.get("version", "")))

    @classmethod
    def load(cls, path: Path) -> "RunConfig":
        return cls.from_dict(read_run_json(path, "lstmlab train"), where=str(path))


# Model and training defaults for word level, where they differ from the
# character defaults above; any of them given explicitly wins. Chosen with
# benchmarks/word_lm.py on crime_and_punishment.txt (BENCHMARKS.md).
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


def check_input_settings(settings: dict[str, Any], level: str = "char") -> None:
    """--input with the flags given (before any defaults are added): the fixed inputs take no
    --embed-dim, and scaled-id is for characters only."""
    kind = settings.get("input")
    if kind in FIXED_INPUTS and settings.get("embed_dim", 0) != 0:
        raise LstmlabError(f"--input {kind} is a fixed table with no learned width; drop --embed-dim "
                           f"{settings['embed_dim']}, or use --input embedding")
    # Word level: ids follow word frequency, not spelling, and thousands of words would
    # sit 1/20,000 apart on one number; no seed does it, and it could only train a poor model.
    if kind == "scaled-id" and level == "word":
        raise LstmlabError("--input scaled-id feeds characters as one number (seeds 003 and 004); "
                           "a word-level model needs --input embedding (the default) or one-hot")


# Why --input scaled-id exists and what it costs, logged when a run trains with it.
SCALED_ID_NOTE = ("--input scaled-id feeds each character as one number, its sorted index / n, to reproduce "
                  "seeds 003 and 004; neighbours such as 'a' and 'b' then differ by only 1/n and look alike "
                  "to the network, so the default embedding (or --input one-hot) learns faster")


def with_word_defaults(settings: dict[str, Any]) -> dict[str, Any]:
    """Word-level defaults under the settings given (which win). The embedding's output is
    dropped at --dropout's rate unless --embed-dropout says otherwise, as in Zaremba et al."""
    merged = {**WORD_MODEL_DEFAULTS, **WORD_TRAIN_DEFAULTS, **settings}
    merged.setdefault("embed_dropout", merged.get("dropout", 0.0))
    return merged


# A character model's training defaults for a time budget shorter than SHORT_BUDGET_MINUTES,
# and its model for one of LONG_BUDGET_MINUTES or more.
SHORT_BUDGET_MINUTES = 1.0
LONG_BUDGET_MINUTES = 5.0
LONG_BUDGET_DEFAULTS: dict[str, Any] = {"hidden_sizes": (512, 512), "dropout": 0.25, "lr": 5e-3}


def with_budget_defaults(settings: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Character-level defaults chosen from the --minutes budget, under the settings given
    (which win), and a few words on why; budgets in steps or epochs keep the usual defaults.

    Under a minute, a run makes a few hundred steps, so it learns most with more of them
    (16 streams, not 32), larger ones (a higher peak rate, decayed by the cosine schedule
    all the same) and a short warm-up. Measured on the seeds' 6-second benchmark
    (BENCHMARKS.md §1): 1.92 nats/char with the 10-minute defaults, 1.52-1.58 with these.

    From five minutes on, a 1x512 model overfits a text of a few megabytes (tiny_shakespeare:
    early stopping after 4 minutes, at 1.52); two layers with dropout use the whole budget
    (1.44 in 10 minutes, BENCHMARKS.md §5c). They apply only when none of the model size,
    dropout and rate is given. A small book gets them at shorter budgets too, once its size
    is known (with_corpus_defaults)."""
    if "max_steps" in settings or "epochs" in settings:
        return settings, ""
    minutes = settings.get("minutes", TrainConfig.minutes)
    if minutes is None or minutes <= 0:  # a bad budget: TrainConfig names it
        return settings, ""
    if minutes < SHORT_BUDGET_MINUTES:
        # The rate rises as the budget shrinks: 3e-3 at a minute, 2e-2 at 6 seconds.
        lr = min(2e-2, 3e-3 * (SHORT_BUDGET_MINUTES / minutes) ** 0.82)
        return ({"batch_size": 16, "warmup_steps": 20, "lr": float(f"{lr:.2g}"), **settings},
                "a budget under a minute (more and larger steps learn more in seconds)")
    if minutes >= LONG_BUDGET_MINUTES and not set(LONG_BUDGET_DEFAULTS) & set(settings):
        return ({**LONG_BUDGET_DEFAULTS, **settings},
                f"a budget of {LONG_BUDGET_MINUTES:g} minutes or more (a larger, regularised model uses it)")
    return settings, ""


# A small book: a training part shorter than this many tokens (characters, or words at word
# level) gets SMALL_BOOK_DEFAULTS. Measured with step budgets, validation every 50 steps
# (BENCHMARKS.md §5d). Characters: Macbeth (93,083 training characters) is read 25 times by
# step 550, where the 2-minute default (1x512, no dropout, lr 3e-3; about 2,000 steps
# uncontended) peaks at 1.581 nats/char and then overfits; two layers of 512 with dropout
# 0.25 and lr 5e-3 peak at 1.553 in the 600 steps they make in 2 minutes, at 1.530 (step 500)
# on the 10-minute schedule (1x512 with --dropout 0.5: 1.589, 1x256: 1.619, AdamW decay 0.5:
# 1.615). tiny_shakespeare (1,003,855) peaks only after 10 passes (step 2,500 of a 1x512,
# §5b) and keeps the budget's defaults; 500,000 lies between, the size a 2-minute run
# (8 million characters) reads 16 times. Words: on a 29,597-word slice of Crime and
# Punishment the word defaults peak at step 250, at 4.251 (seed 0) and 4.231 (seed 1)
# nats/word; --dropout 0.5 reached 4.233 (seed 0), within that spread, and nothing else
# tried did better (256 units and a 128-wide embedding, two layers, AdamW, input dropout).
# 100,000 words lies between that and the whole book's 227,000, which keeps the word defaults.
SMALL_BOOK_TOKENS: dict[str, int] = {"char": 500_000, "word": 100_000}
SMALL_BOOK_DEFAULTS: dict[str, dict[str, Any]] = {"char": dict(LONG_BUDGET_DEFAULTS), "word": {"dropout": 0.5}}


def short_budget(settings: dict[str, Any]) -> bool:
    """A --minutes budget under SHORT_BUDGET_MINUTES (and no budget in steps or epochs)."""
    if "max_steps" in settings or "epochs" in settings:
        return False
    minutes = settings.get("minutes", TrainConfig.minutes)
    return minutes is not None and 0 < minutes < SHORT_BUDGET_MINUTES


def with_corpus_defaults(settings: dict[str, Any], level: str, train_tokens: Optional[int]) -> tuple[dict[str, Any], str]:
    """Defaults for a small book (a training part under SMALL_BOOK_TOKENS of the level), under
    the settings given, and a few words on why. The model the 2-minute (or, for words, any)
    budget would get reads such a text dozens of times and learns it by heart long before its
    budget ends: validation peaks early and early stopping ends the run. SMALL_BOOK_DEFAULTS
    fit it better, whatever the budget (steps and epochs too), except a character model's
    budget under a minute, which keeps its own. Like the long budget's model, they apply only
    when none of them is given; train_tokens None (the text not read yet) chooses nothing."""
    limit = SMALL_BOOK_TOKENS[level]
    small = SMALL_BOOK_DEFAULTS[level]
    if (train_tokens is None or train_tokens >= limit or set(small) & set(settings)
            or (level == "char" and short_budget(settings))):
        return settings, ""
    unit = "characters" if level == "char" else "words"
    return ({**small, **settings},
            f"a small book ({train_tokens:,} training {unit}, under {limit:,}: the usual model would learn it by "
            "heart long before its budget ends)")


# A large word corpus: a training part of this many tokens or more (PTB's 929,589 with <eos>,
# WikiText-2's 2,088,628). The defaults above were measured on one book (Crime and Punishment,
# 226,732 words, a 5,602-word vocabulary). A standard corpus, with 10,000 to 33,278 words, spends
# most of a step in the output layer, and learns most within minutes from PyTorch's
# word_language_model recipe: a small model with a tied output, plain SGD at a high rate with a
# tight clip; Adam on the same tied model (lr 3e-3) was at a validation perplexity of 1,067 after
# 1,000 steps on WikiText-2 where SGD was far below (BENCHMARKS.md §17). lstmlab anneals the rate
# with its cosine schedule over the budget where the example divides it by 4 after an epoch
# without improvement. Settings that only work together apply as a group, and only when none of
# the group is given; each other setting given wins on its own.
LARGE_CORPUS_WORDS = 500_000
LARGE_CORPUS_GROUPS = (("hidden_sizes", "embed_dim", "tie_embeddings"),
                       ("optimizer", "lr", "momentum", "clip_grad_norm", "warmup_steps"))
LARGE_CORPUS_WORD_DEFAULTS: dict[str, Any] = {
    "hidden_sizes": (200, 200), "embed_dim": 200, "tie_embeddings": True, "dropout": 0.2,
    "optimizer": "sgd", "lr": 20.0, "momentum": 0.0, "clip_grad_norm": 0.25, "warmup_steps": 0,
    "seq_len": 35, "batch_size": 20, "ema_decay": 0.0,
    # A validation through a 33,279-word output costs about 0.2 ms a token: 200,000 tokens would
    # take 40 s, a fifteenth of 10 minutes, each time. 50,000 tokens every 1,000 steps keep it small.
    "eval_every": 1000, "eval_chars": 50_000,
}


def with_large_corpus_defaults(settings: dict[str, Any], train_tokens: Optional[int]) -> tuple[dict[str, Any], str]:
    """LARGE_CORPUS_WORD_DEFAULTS under the settings given, for a word-level training part of
    LARGE_CORPUS_WORDS tokens or more; and a few words on why ("" when nothing applies)."""
    if train_tokens is None or train_tokens < LARGE_CORPUS_WORDS:
        return settings, ""
    held_back = {name for group in LARGE_CORPUS_GROUPS if set(group) & set(settings) for name in group}
    chosen = {k: v for k, v in LARGE_CORPUS_WORD_DEFAULTS.items() if k not in held_back}
    merged = {**chosen, **settings}
    if merged == settings:
        return settings, ""
    return merged, (f"a large word corpus ({train_tokens:,} training tokens, {LARGE_CORPUS_WORDS:,} or more: "
                    "PyTorch's word_language_model recipe, annealed over the budget, learns most in minutes)")


def choose_defaults(settings: dict[str, Any], level: str = "char",
                    train_tokens: Optional[int] = None) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """Every default that depends on the run, under the settings given (which win): the small
    book's (with_corpus_defaults; train_tokens is the training part's size, None before the
    text is read), then, for words, the large corpus's (with_large_corpus_defaults) and the
    level's (with_word_defaults), or, for characters, the budget's (with_budget_defaults).
    Also, for each rule that chose something, why and what it chose, to be logged."""
    notes: list[tuple[str, dict[str, Any]]] = []
    sized, why = with_corpus_defaults(settings, level, train_tokens)
    if why:
        notes.append((why, {k: v for k, v in sized.items() if k not in settings}))
    if level == "word":
        large, why = with_large_corpus_defaults(sized, train_tokens)
        if why:
            notes.append((why, {k: v for k, v in large.items() if k not in sized}))
        return with_word_defaults(large), notes
    chosen, why = with_budget_defaults(sized)
    picked = {k: v for k, v in chosen.items() if k not in sized}
    if picked:
        notes.append((why, picked))
    return chosen, notes
