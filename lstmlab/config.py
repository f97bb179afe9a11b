"""Typed, frozen settings for each stage, saved as readable JSON beside every run.

Change a setting with `dataclasses.replace(cfg, field=value)`; unknown keys in a
JSON file are errors, never silently ignored. Every check that can be made
before training starts is made here, so a bad flag fails in a second with a
message that names the fix instead of after ten minutes of training.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from .errors import LstmlabError

CELLS = ("lstm", "gru", "rnn", "peephole", "layernorm-lstm")
OBJECTIVES = ("tbptt", "window")
LEVELS = ("char", "word")
OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
PRECISIONS = ("auto", "bf16", "fp32")
SCHEDULES = ("constant", "cosine", "step", "plateau")
# The TrainConfig fields that bound a run; --resume may change only these.
BUDGET_FIELDS = ("max_steps", "epochs", "minutes")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise LstmlabError(message)


@dataclass(frozen=True)
class DataConfig:
    """Where the text comes from and how it is cleaned before encoding."""

    source: str = "builtin:shakespeare"
    # char: one token per character (vocab.json). word: words and punctuation
    # marks (tokenizers.WordTokenizer, saved as tokenizer.json). Runs saved
    # before word models existed have no `level` and load as char.
    level: str = "char"
    encoding: str = "utf-8"
    strip_gutenberg: bool = True
    # None: the level's default, resolved here and saved as true/false:
    # characters keep their case, words are lowercased ("The" and "the" share
    # one entry of a vocabulary that is otherwise quickly exhausted).
    lowercase: Optional[bool] = None
    collapse_whitespace: bool = False
    # Characters seen fewer times than this map to the unknown symbol (char level).
    min_count: int = 1
    # Word level: the vocabulary is built on the training part only and holds
    # at most max_vocab symbols (<pad> and <unk> included; 0: no cap), each a
    # token seen at least min_freq times; the rest read as <unk>.
    max_vocab: int = 20_000
    min_freq: int = 2
    # The last fraction of the text is held out for validation (nanoGPT's
    # shakespeare_char takes the last 10% too), so validation text is text the
    # model has never seen, not a shuffled sample of overlapping windows.
    val_fraction: float = 0.1

    def __post_init__(self) -> None:
        _require(self.level in LEVELS, f"unknown --level {self.level!r}; choose {' or '.join(LEVELS)}")
        if self.lowercase is None:
            object.__setattr__(self, "lowercase", self.level == "word")
        _require(self.min_count >= 1, f"--min-count must be at least 1, got {self.min_count}")
        _require(self.max_vocab == 0 or self.max_vocab >= 3,
                 f"--max-vocab must be at least 3 (<pad>, <unk> and one word), or 0 for no cap; got {self.max_vocab}")
        _require(self.min_freq >= 1, f"--min-freq must be at least 1, got {self.min_freq}")
        _require(
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
    # Applied between recurrent layers and before the head (not on recurrent
    # connections, which would disturb the memory the cell is meant to keep).
    dropout: float = 0.0
    # Share the embedding matrix with the output layer; needs embed_dim equal to
    # the last hidden size.
    tie_embeddings: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        _require(self.cell in CELLS, f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        _require(self.vocab_size >= 2, f"the vocabulary has {self.vocab_size} symbol(s); the corpus needs at least 2 distinct characters")
        _require(
            len(self.hidden_sizes) >= 1 and all(h >= 1 for h in self.hidden_sizes),
            f"--hidden needs positive layer sizes such as 512 or 256,128, got {','.join(map(str, self.hidden_sizes)) or 'nothing'}",
        )
        _require(self.embed_dim >= 0, f"--embed-dim must be positive, or 0 for one-hot inputs; got {self.embed_dim}")
        _require(0.0 <= self.dropout < 1.0, f"--dropout must be in [0, 1), got {self.dropout}")
        _require(
            not (self.tie_embeddings and self.one_hot),
            "--tie-embeddings needs a learned embedding; drop it or give --embed-dim a positive size",
        )
        _require(
            not self.tie_embeddings or self.embed_dim == self.hidden_sizes[-1],
            f"--tie-embeddings needs --embed-dim equal to the last hidden size "
            f"({self.embed_dim} vs {self.hidden_sizes[-1]}); pass --embed-dim {self.hidden_sizes[-1]}",
        )

    @property
    def one_hot(self) -> bool:
        return self.embed_dim == 0

    @property
    def input_size(self) -> int:
        """Width of what the first recurrent layer reads."""
        return self.vocab_size if self.one_hot else self.embed_dim


@dataclass(frozen=True)
class TrainConfig:
    """Objective, optimisation, budget and bookkeeping."""

    # tbptt: every character is a target and the hidden state flows from one
    # chunk to the next (char-rnn). window: the seeds' recipe, a fixed window
    # read from a fresh state and only its next character is a target.
    objective: str = "tbptt"
    seq_len: int = 128
    window: int = 50
    step: int = 3
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 3e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup_steps: int = 50
    # cosine decays to lr * min_lr_ratio; step multiplies by gamma every
    # decay_every steps; plateau multiplies by gamma after `plateau_patience`
    # evaluations without improvement.
    min_lr_ratio: float = 0.1
    gamma: float = 0.5
    decay_every: int = 1000
    plateau_patience: int = 2
    # Gradient-norm clipping is on by default: recurrent nets multiply by the
    # same weights at every step, so gradients can explode over long sequences.
    clip_grad_norm: float = 1.0
    # Budget: whichever of these comes first stops training. With none given,
    # `minutes` applies.
    minutes: Optional[float] = 10.0
    epochs: Optional[float] = None
    max_steps: Optional[int] = None
    eval_every: int = 250
    # Validation reads at most this many held-out characters so that evaluation
    # stays cheap on a 1 GB corpus. 0 means all of them.
    eval_chars: int = 200_000
    # Early stopping: stop after this many evaluations without improvement
    # (0 turns it off).
    patience: int = 5
    seed: int = 0
    # Matrix products in training run in bfloat16 (weights, optimiser and loss
    # stay float32) where the CPU has native bf16 instructions: about twice
    # the characters per second. "auto" picks bf16 only on such CPUs.
    precision: str = "auto"

    def __post_init__(self) -> None:
        _require(self.objective in OBJECTIVES, f"unknown --objective {self.objective!r}; choose {' or '.join(OBJECTIVES)}")
        _require(self.optimizer in OPTIMIZERS, f"unknown --optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        _require(self.precision in PRECISIONS, f"unknown --precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")
        _require(self.schedule in SCHEDULES, f"unknown --schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        for name in ("seq_len", "window", "step", "batch_size", "eval_every", "decay_every"):
            value = getattr(self, name)
            _require(value >= 1, f"--{name.replace('_', '-')} must be at least 1, got {value}")
        _require(self.lr > 0 and math.isfinite(self.lr), f"--lr must be a positive number, got {self.lr}")
        _require(self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}")
        _require(self.warmup_steps >= 0, f"--warmup-steps must be >= 0, got {self.warmup_steps}")
        _require(0 < self.gamma <= 1, f"--gamma must be in (0, 1], got {self.gamma}")
        _require(0 <= self.min_lr_ratio <= 1, f"--min-lr-ratio must be in [0, 1], got {self.min_lr_ratio}")
        _require(self.clip_grad_norm >= 0, f"--clip must be >= 0 (0 turns clipping off), got {self.clip_grad_norm}")
        _require(self.eval_chars >= 0, f"--eval-chars must be >= 0, got {self.eval_chars}")
        _require(self.patience >= 0, f"--patience must be >= 0, got {self.patience}")
        _require(self.minutes is None or self.minutes > 0, f"--minutes must be positive, got {self.minutes}")
        _require(self.epochs is None or self.epochs > 0, f"--epochs must be positive, got {self.epochs}")
        _require(self.max_steps is None or self.max_steps >= 1, f"--steps must be at least 1, got {self.max_steps}")


def check_resume_settings(settings: dict[str, Any]) -> None:
    """--resume keeps a run's saved settings; only its budget may be extended."""
    extra = set(settings) - set(BUDGET_FIELDS)
    if extra:
        raise LstmlabError(
            f"--resume continues a run with its saved settings; only the budget (--steps, --epochs, --minutes) "
            f"can be given, not {', '.join(sorted(extra))}. Start a new run with --out to change them")


def task_train_config(defaults: dict[str, Any], overrides: dict[str, Any], steps_per_epoch: int) -> "TrainConfig":
    """A task's TrainConfig: its own defaults (classification, forecasting), then the user's
    settings. A budget the user gives replaces the default budgets it does not name (--minutes 2
    alone means two minutes, not "two minutes or the default epochs"); validation runs once an
    epoch unless --eval-every says otherwise."""
    merged = {**defaults, **overrides}
    if any(k in overrides for k in BUDGET_FIELDS):
        for k in BUDGET_FIELDS:
            if k not in overrides:
                merged[k] = None
    if merged.get("eval_every") is None:
        merged["eval_every"] = steps_per_epoch
    return TrainConfig(**merged)


@dataclass(frozen=True)
class RunConfig:
    """Everything needed to rebuild a run: written once as RUN/config.json."""

    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    # The prepared corpus the run reads (RUN/data unless a prepared folder was given).
    data_dir: str = ""
    version: str = field(default="")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config") -> "RunConfig":
        parts = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}
        return build_run_config(cls, raw, parts, where, data_dir=str(raw.get("data_dir", "")),
                                version=str(raw.get("version", "")))

    @classmethod
    def load(cls, path: Path) -> "RunConfig":
        return cls.from_dict(read_run_json(path, "lstmlab train"), where=str(path))


def read_run_json(path: Path, command: str, kind: Optional[str] = None) -> dict[str, Any]:
    """A run's config.json as a dict, or a one-line error naming the fix. With `kind`, the
    file must say it is that kind of run (made by `command`)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LstmlabError(f"{path} is missing; is {Path(path).parent} a run folder made by `{command}`?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LstmlabError(f"{path} is not valid JSON ({exc}); restore it or retrain the run") from None
    if not isinstance(raw, dict):
        raise LstmlabError(f"{path} should hold a JSON object; restore it or retrain the run")
    if kind is not None and raw.get("kind") != kind:
        raise LstmlabError(f"{Path(path).parent} is not a {kind} run (made by `{command}`)")
    return raw


def build_run_config(cls: type, raw: dict[str, Any], parts: dict[str, type], where: str, **scalars: Any) -> Any:
    """`cls` from a run's JSON: each part (data, model, train, ...) built and checked for
    unknown keys, plus the scalar fields given."""
    _reject_unknown(raw, {f.name for f in fields(cls)}, where)
    built = {name: _build(kind, raw.get(name, {}), f"{where}.{name}") for name, kind in parts.items()}
    try:
        return cls(**built, **scalars)
    except TypeError as exc:
        raise LstmlabError(f"{where}: {exc}") from None


def _reject_unknown(raw: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise LstmlabError(f"unknown setting(s) {', '.join(unknown)} in {where}; known: {', '.join(sorted(known))}")


def _build(kind: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise LstmlabError(f"{where} should be a JSON object")
    _reject_unknown(raw, {f.name for f in fields(kind)}, where)
    try:
        return kind(**raw)
    except TypeError as exc:  # a required field is missing
        raise LstmlabError(f"{where}: {exc}") from None


# ---------------------------------------------------------------------------
# Text classification (lstmlab classify ...)
# ---------------------------------------------------------------------------

POOLINGS = ("max", "mean", "mean+max", "last")
TRUNCATE_SIDES = ("head", "tail")
QUOTINGS = ("auto", "csv", "none")
TOKENIZER_KINDS = ("word", "char")
MONITORS = ("loss", "accuracy")


def _column(value: Any) -> Optional[str]:
    """A column is a name or a number (0 = the first, -1 = the last); kept as text in config.json."""
    return None if value is None or value == "" else str(value)


@dataclass(frozen=True)
class LabelledDataConfig:
    """Where labelled texts come from, how labels are mapped, how they are split and encoded."""

    source: str = ""
    # CSV/TSV files: a column name, or a number counting from 0 (negative: from the end).
    text_column: Optional[str] = None
    label_column: Optional[str] = None
    # None: a header row when columns are given by name, none when by number.
    header: Optional[bool] = None
    # None: "," for .csv, a tab for anything else (.tsv, .txt).
    delimiter: Optional[str] = None
    # csv: fields may be "quoted" (the CSV rules); none: quotes are ordinary
    # characters (files like imdb_labelled.txt). auto: csv for .csv, none otherwise.
    quoting: str = "auto"
    encoding: str = "utf-8"
    # Label mapping, applied in this order: map_labels ("old=new"), positive_vs_rest, keep_labels.
    map_labels: tuple[str, ...] = ()
    positive_vs_rest: Optional[str] = None
    keep_labels: tuple[str, ...] = ()
    # Rows without a label are an error unless dropped.
    drop_missing: bool = False
    # Splits: given files (same format as the source), or stratified fractions
    # drawn with split_seed; folds > 0 makes fold `fold` of a stratified k-fold the test set.
    val_source: str = ""
    test_source: str = ""
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    folds: int = 0
    fold: int = 0
    split_seed: int = 0
    # Encoding texts into token ids (tokenizers.py).
    tokenizer: str = "word"
    lowercase: bool = True
    max_vocab: int = 50_000
    # Words seen only once in training become <unk>: their vectors would be learnt from one example.
    min_freq: int = 2
    # Longer texts are cut to this many tokens; None: the 95th percentile of the
    # training texts' lengths (what was chosen is saved in the run's config.json).
    max_length: Optional[int] = None
    truncate: str = "head"

    def __post_init__(self) -> None:
        for name in ("text_column", "label_column"):
            object.__setattr__(self, name, _column(getattr(self, name)))
        for name in ("map_labels", "keep_labels"):
            object.__setattr__(self, name, tuple(str(v) for v in getattr(self, name)))
        _require(self.quoting in QUOTINGS, f"unknown --quoting {self.quoting!r}; choose one of {', '.join(QUOTINGS)}")
        _require(self.tokenizer in TOKENIZER_KINDS, f"unknown --tokenizer {self.tokenizer!r}; choose word or char")
        _require(self.truncate in TRUNCATE_SIDES, f"unknown --truncate {self.truncate!r}; choose head or tail")
        _require(self.delimiter is None or len(self.delimiter) == 1,
                 f"--delimiter must be one character (use $'\\t' for a tab), got {self.delimiter!r}")
        for item in self.map_labels:
            _require("=" in item, f"--map-labels takes OLD=NEW pairs such as neutral=negative, got {item!r}")
        fractions = (self.val_fraction, 0.0 if self.folds else self.test_fraction)
        _require(all(0.0 <= f < 1.0 for f in fractions) and sum(fractions) < 1.0,
                 f"--val-fraction and --test-fraction must be in [0, 1) with room left for training, "
                 f"got {self.val_fraction} and {self.test_fraction}")
        _require(self.folds == 0 or self.folds >= 2, f"--folds must be at least 2 (or 0 for none), got {self.folds}")
        _require(self.folds == 0 or 0 <= self.fold < self.folds,
                 f"--fold must be between 0 and {self.folds - 1} for --folds {self.folds}, got {self.fold}")
        _require(not (self.folds and self.test_source), "give either --folds or --test FILE, not both")
        _require(self.max_vocab >= 3, f"--max-vocab must be at least 3, got {self.max_vocab}")
        _require(self.min_freq >= 1, f"--min-freq must be at least 1, got {self.min_freq}")
        _require(self.max_length is None or self.max_length >= 1, f"--max-length must be at least 1, got {self.max_length}")


@dataclass(frozen=True)
class ClassifierConfig:
    """Embedding -> recurrent layers (optionally both directions) -> pooling over time -> linear head."""

    vocab_size: int
    classes: tuple[str, ...]
    cell: str = "lstm"
    hidden_sizes: tuple[int, ...] = (128,)
    embed_dim: int = 128
    bidirectional: bool = True
    # mean: every real step's output counts, so every word gets a gradient
    # (learns faster on long reviews than max, which picks one step per unit).
    pooling: str = "mean"
    # On the embeddings, between layers and before the head.
    dropout: float = 0.5
    # In training, each token is read as <unk> with this probability, so the
    # model cannot lean on a few words it has memorised (small data sets).
    word_dropout: float = 0.2
    # A word2vec/GloVe text file the embedding started from (recorded; the trained
    # weights live in model.safetensors), and whether training left it unchanged.
    embeddings: str = ""
    freeze_embeddings: bool = False
    # Run nn.LSTM/GRU/RNN on packed sequences (same results; far slower to train on CPU, see classifier.py).
    packed: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        _require(self.cell in CELLS, f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        _require(self.pooling in POOLINGS, f"unknown --pooling {self.pooling!r}; choose one of {', '.join(POOLINGS)}")
        _require(self.vocab_size >= 3, f"the vocabulary has {self.vocab_size} symbol(s); the texts need at least one token")
        _require(len(self.classes) >= 2, f"a classifier needs at least 2 classes, got {list(self.classes)}")
        _require(len(set(self.classes)) == len(self.classes), f"class names repeat: {list(self.classes)}")
        _require(len(self.hidden_sizes) >= 1 and all(h >= 1 for h in self.hidden_sizes),
                 f"--hidden needs positive layer sizes such as 128 or 128,64, got {','.join(map(str, self.hidden_sizes)) or 'nothing'}")
        _require(self.embed_dim >= 1, f"--embed-dim must be at least 1, got {self.embed_dim}")
        _require(0.0 <= self.dropout < 1.0, f"--dropout must be in [0, 1), got {self.dropout}")
        _require(0.0 <= self.word_dropout < 1.0, f"--word-dropout must be in [0, 1), got {self.word_dropout}")
        _require(not self.freeze_embeddings or self.embeddings,
                 "--freeze-embeddings needs pretrained vectors: add --embeddings FILE (word2vec or GloVe text format)")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def features(self) -> int:
        """Width of the pooled vector the head reads."""
        return self.hidden_sizes[-1] * (2 if self.bidirectional else 1) * (2 if self.pooling == "mean+max" else 1)


@dataclass(frozen=True)
class ClassifyRunConfig:
    """Everything needed to rebuild a classifier run: RUN/config.json."""

    data: LabelledDataConfig
    model: ClassifierConfig
    train: TrainConfig
    # Which quantity picks the best checkpoint and stops training early.
    monitor: str = "loss"
    kind: str = "classifier"
    version: str = ""

    def __post_init__(self) -> None:
        _require(self.monitor in MONITORS, f"unknown --monitor {self.monitor!r}; choose loss or accuracy")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> "ClassifyRunConfig":
        raw = read_run_json(path, "lstmlab classify train", kind="classifier")
        parts = {"data": LabelledDataConfig, "model": ClassifierConfig, "train": TrainConfig}
        return build_run_config(cls, raw, parts, str(path), monitor=str(raw.get("monitor", "loss")),
                                version=str(raw.get("version", "")))
