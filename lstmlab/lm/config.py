"""The language model's settings: the text, the network, and what it is trained to predict.

A run's config.json holds them as RunConfig: data, model, objective and the
task-neutral train section (lstmlab/config.py).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from ..config import (CELLS, DEFAULT_CELL, MAX_LAYER_SIZE, MAX_SEQUENCE_LENGTH, MAX_VOCAB_SIZE, RETIRED_TRAIN_FIELDS, TrainConfig,
                      build_run_config, read_run_json, require, train_config_from_json)
from ..cells import cell_class
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


# --adaptive-softmax auto: an output layer over this many symbols or more is an adaptive softmax
# unless it is tied to the embedding; above it, training runs faster than with a full softmax
# (BENCHMARKS.md §20, benchmarks/adaptive_softmax.py). The clusters start at these ids (a word
# vocabulary's ids follow frequency), those below the vocabulary's size kept.
ADAPTIVE_FROM = 5_000
CUTOFFS = (2_000, 10_000, 50_000, 200_000)


def default_cutoffs(vocab_size: int, tied: bool) -> tuple[int, ...]:
    """The cutoffs of --adaptive-softmax auto: () (a full softmax) for a tied output or a
    vocabulary under ADAPTIVE_FROM symbols."""
    if tied or vocab_size < ADAPTIVE_FROM:
        return ()
    return tuple(c for c in CUTOFFS if c < vocab_size - 1)


@dataclass(frozen=True)
class ModelConfig:
    """Embedding -> stacked recurrent layers -> linear head."""

    vocab_size: int
    cell: str = DEFAULT_CELL
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
    # AWD-LSTM's regularisers (Merity et al. 2017), all off in runs saved before they existed.
    # DropConnect on every layer's hidden-to-hidden weights: one mask per forward pass (per
    # batch), shared by every row and step, so the fused kernel still runs (stack.py).
    weight_drop: float = 0.0
    # Drop whole words (symbols): a dropped word's embedding is zero wherever it occurs in the
    # batch, the others scaled by 1 / (1 - p); AWD-LSTM's embedding dropout.
    word_dropout: float = 0.0
    # --dropout and --embed-dropout draw one mask per sequence, the same at every step (AWD-LSTM's
    # LockedDropout, Gal & Ghahramani's variational dropout on the non-recurrent connections),
    # instead of a fresh draw per number and step.
    locked_dropout: bool = False
    # The output layer: () a full softmax over the vocabulary; cutoffs such as (2000, 10000) an
    # adaptive softmax (Grave et al. 2017, torch.nn.AdaptiveLogSoftmaxWithLoss): the ids below
    # the first cutoff (a word vocabulary's ids follow frequency) form the head, each later range
    # a cluster reached through the head with a smaller projection. Scores stay exact: log_prob
    # gives the full distribution. "auto" is resolved here from the vocabulary's size
    # (default_cutoffs) and saved as the cutoffs; () in runs saved before it existed.
    adaptive_softmax: Union[tuple[int, ...], str] = ()

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
        require(not (self.input == "scaled-id" and cell_class(self.cell).normalises_input),
                f"--cell {self.cell} normalises away the one number --input scaled-id feeds (every character "
                "would read alike); use another --cell, or --input embedding")
        require(0.0 <= self.dropout < 1.0, f"--dropout must be in [0, 1), got {self.dropout}")
        if self.embed_dropout is None:
            object.__setattr__(self, "embed_dropout", 0.0)
        require(0.0 <= self.embed_dropout < 1.0, f"--embed-dropout must be in [0, 1), got {self.embed_dropout}")
        require(0.0 <= self.recurrent_dropout < 1.0,
                f"--recurrent-dropout must be in [0, 1), got {self.recurrent_dropout}; try 0.2")
        require(0.0 <= self.input_dropout < 1.0, f"--input-dropout must be in [0, 1), got {self.input_dropout}; try 0.2")
        require(0.0 <= self.weight_drop < 1.0, f"--weight-drop must be in [0, 1), got {self.weight_drop}; try 0.5")
        require(0.0 <= self.word_dropout < 1.0, f"--word-dropout must be in [0, 1), got {self.word_dropout}; try 0.1")
        if isinstance(self.adaptive_softmax, str):
            require(self.adaptive_softmax == "auto",
                    f"--adaptive-softmax takes cutoffs such as 2000,10000, auto or off, got {self.adaptive_softmax!r}")
            object.__setattr__(self, "adaptive_softmax", default_cutoffs(self.vocab_size, self.tie_embeddings))
        object.__setattr__(self, "adaptive_softmax", tuple(int(c) for c in self.adaptive_softmax))
        cutoffs = self.adaptive_softmax
        require(all(a < b for a, b in zip(cutoffs, cutoffs[1:])) and all(c >= 1 for c in cutoffs),
                f"--adaptive-softmax takes increasing positive cutoffs such as 2000,10000, got "
                f"{','.join(map(str, cutoffs))}")
        require(not cutoffs or cutoffs[-1] < self.vocab_size - 1,
                f"--adaptive-softmax cutoffs must lie below the vocabulary's {self.vocab_size:,} symbols, got "
                f"{','.join(map(str, cutoffs))}; give smaller ones, or --adaptive-softmax off")
        require(not (cutoffs and self.tie_embeddings),
                "--adaptive-softmax has output layers of its own that cannot share the embedding; drop "
                "--tie-embeddings, or give --adaptive-softmax off")
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
    # AWD-LSTM's activation regularisation (AR): the loss adds ar times the mean square of the
    # top layer's output after dropout, which keeps activations small; and temporal AR (TAR):
    # tar times the mean square of its change from one step to the next (before dropout), which
    # keeps the state from jumping. 0 in runs saved before they existed.
    ar: float = 0.0
    tar: float = 0.0
    # AWD-LSTM's variable back-propagation length (tbptt only): each batch reads a length drawn
    # around seq_len (seq_len most of the time, half of it one time in twenty, spread by
    # N(0, 5)), so that chunk boundaries fall everywhere, with the learning rate scaled by
    # length / seq_len so every word weighs the same (data.VariableStreamBatches).
    variable_seq_len: bool = False

    def __post_init__(self) -> None:
        require(self.objective in OBJECTIVES, f"unknown --objective {self.objective!r}; choose {' or '.join(OBJECTIVES)}")
        require(self.ar >= 0 and math.isfinite(self.ar), f"--ar must be >= 0 (0 turns it off), got {self.ar}; try 2")
        require(self.tar >= 0 and math.isfinite(self.tar), f"--tar must be >= 0 (0 turns it off), got {self.tar}; try 1")
        require(not (self.variable_seq_len and self.objective == "window"),
                "--variable-seq-len varies the chunks of --objective tbptt; --objective window reads fixed windows")
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
    # The preset that chose the run's defaults (lm/presets.py); None in runs saved before presets
    # existed, and in imported ones.
    preset: Optional[str] = None
    # The run whose weights this one started from (--init-from), its vocabulary extended with the
    # new text's symbols; "" for a run that started from random weights, and in runs saved before.
    init_from: str = ""

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
                                version=str(raw.get("version", "")), preset=raw.get("preset"),
                                init_from=str(raw.get("init_from", "")))

    @classmethod
    def load(cls, path: Path) -> "RunConfig":
        return cls.from_dict(read_run_json(path, "lstmlab train"), where=str(path))


# The defaults that depend on the level, the budget and the text's size: lm/presets.py.
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
