"""The classifier's settings: labelled data, the network, and its training defaults."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..config import (CELLS, DEFAULT_CELL, MAX_LAYER_SIZE, TrainConfig, build_run_config, read_run_json, require,
                      train_config_from_json)

# concat: ULMFiT's concat pooling, the last step, the mean and the max side by side.
POOLINGS = ("max", "mean", "mean+max", "last", "concat")
TRUNCATE_SIDES = ("head", "tail")
QUOTINGS = ("auto", "csv", "none")
TOKENIZER_KINDS = ("word", "whitespace", "char")
MONITORS = ("loss", "accuracy")
# Which splitter draws the stratified parts (classify/splits.py): 1, lstmlab's own; 2, scikit-learn's.
SPLIT_VERSIONS = (1, 2)
SPLIT_VERSION = 2  # what new runs use; a config.json without the field was split by version 1
# k-fold cross-validation keeps a list per fold: 10**12 folds would fill the memory at the
# split (a MemoryError). Leave-one-out on a million texts still fits.
MAX_FOLDS = 1_000_000


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
    split_version: int = SPLIT_VERSION
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
        require(self.quoting in QUOTINGS, f"unknown --quoting {self.quoting!r}; choose one of {', '.join(QUOTINGS)}")
        require(self.tokenizer in TOKENIZER_KINDS,
                f"unknown --tokenizer {self.tokenizer!r}; choose one of {', '.join(TOKENIZER_KINDS)}")
        if self.tokenizer == "whitespace":  # pre-tokenized text is read verbatim, case included
            object.__setattr__(self, "lowercase", False)
        require(self.truncate in TRUNCATE_SIDES, f"unknown --truncate {self.truncate!r}; choose head or tail")
        require(self.delimiter is None or len(self.delimiter) == 1,
                 f"--delimiter must be one character (use $'\\t' for a tab), got {self.delimiter!r}")
        for item in self.map_labels:
            require("=" in item, f"--map-labels takes OLD=NEW pairs such as neutral=negative, got {item!r}")
        fractions = (self.val_fraction, 0.0 if self.folds else self.test_fraction)
        require(all(0.0 <= f < 1.0 for f in fractions) and sum(fractions) < 1.0,
                 f"--val-fraction and --test-fraction must be in [0, 1) with room left for training, "
                 f"got {self.val_fraction} and {self.test_fraction}")
        require(self.folds == 0 or 2 <= self.folds <= MAX_FOLDS,
                 f"--folds must be between 2 and {MAX_FOLDS:,} (or 0 for none), got {self.folds}; try 5 or 10")
        require(self.folds == 0 or 0 <= self.fold < self.folds,
                 f"--fold must be between 0 and {self.folds - 1} for --folds {self.folds}, got {self.fold}")
        require(self.fold >= 0, f"--fold must be >= 0 (the first fold is 0), got {self.fold}")
        # NumPy's generators take no negative seed (a traceback at the split otherwise).
        require(self.split_seed >= 0, f"--split-seed must be >= 0, got {self.split_seed}")
        require(self.split_version in SPLIT_VERSIONS,
                f"split_version must be one of {', '.join(map(str, SPLIT_VERSIONS))}, got {self.split_version!r}")
        require(not (self.folds and self.test_source), "give either --folds or --test FILE, not both")
        require(self.max_vocab >= 3, f"--max-vocab must be at least 3, got {self.max_vocab}")
        require(self.min_freq >= 1, f"--min-freq must be at least 1, got {self.min_freq}")
        require(self.max_length is None or self.max_length >= 1, f"--max-length must be at least 1, got {self.max_length}")


@dataclass(frozen=True)
class ClassifierConfig:
    """Embedding -> recurrent layers (optionally both directions) -> pooling over time -> linear head."""

    vocab_size: int
    classes: tuple[str, ...]
    cell: str = DEFAULT_CELL
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
    # The word vectors the embedding started from: a word2vec (text or binary) or GloVe
    # file, or a name such as glove-6b-50d (vectors.py; recorded, the trained weights
    # live in model.safetensors), and whether training left them unchanged.
    embeddings: str = ""
    freeze_embeddings: bool = False
    # Run nn.LSTM/GRU/RNN on packed sequences (same results; far slower to train on CPU, see model.py).
    packed: bool = False
    # A hidden layer of this width (ReLU, dropout) between the pooled vector and the output, as
    # ULMFiT's head has; 0: the output reads the pooled vector. 0 in runs saved before it existed.
    head_hidden: int = 0
    # Batch normalisation of the pooled vector (and of the hidden layer's output), as ULMFiT's
    # head has: a pretrained encoder's pooled features differ little from text to text, and
    # standardising each over the batch lets the head see those differences. False in runs
    # saved before it existed.
    head_norm: bool = False
    # Read texts in chunks of this many tokens, each layer's state carried from one to the next
    # and cut from the gradient there (ULMFiT reads a 700-word review whole this way, back-
    # propagating through 70 tokens at a time); 0: in one pass. Pooling sees every step either way.
    chunk_length: int = 0
    # DropConnect on each layer's hidden-to-hidden weights in training (AWD-LSTM's weight drop,
    # which ULMFiT's classifier keeps, at 0.25): a fresh mask per chunk read. 0 in runs saved
    # before it existed.
    weight_drop: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        require(self.cell in CELLS, f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        require(self.pooling in POOLINGS, f"unknown --pooling {self.pooling!r}; choose one of {', '.join(POOLINGS)}")
        require(self.vocab_size >= 3, f"the vocabulary has {self.vocab_size} symbol(s); the texts need at least one token")
        require(len(self.classes) >= 2, f"a classifier needs at least 2 classes, got {list(self.classes)}")
        require(len(set(self.classes)) == len(self.classes), f"class names repeat: {list(self.classes)}")
        require(len(self.hidden_sizes) >= 1 and all(h >= 1 for h in self.hidden_sizes),
                 f"--hidden needs positive layer sizes such as 128 or 128,64, got {','.join(map(str, self.hidden_sizes)) or 'nothing'}")
        require(max(self.hidden_sizes) <= MAX_LAYER_SIZE,
                 f"--hidden layer sizes must be at most {MAX_LAYER_SIZE:,}, got {max(self.hidden_sizes):,}; try 128")
        require(self.embed_dim >= 1, f"--embed-dim must be at least 1, got {self.embed_dim}")
        require(self.embed_dim <= MAX_LAYER_SIZE, f"--embed-dim must be at most {MAX_LAYER_SIZE:,}, got {self.embed_dim:,}; try 128")
        require(0.0 <= self.dropout < 1.0, f"--dropout must be in [0, 1), got {self.dropout}")
        require(0.0 <= self.word_dropout < 1.0, f"--word-dropout must be in [0, 1), got {self.word_dropout}")
        require(0.0 <= self.weight_drop < 1.0, f"--weight-drop must be in [0, 1), got {self.weight_drop}; try 0.25")
        require(0 <= self.head_hidden <= MAX_LAYER_SIZE,
                f"--head-hidden must be between 0 (no hidden layer) and {MAX_LAYER_SIZE:,}, got {self.head_hidden}; try 50")
        require(self.chunk_length >= 0, f"--chunk-length must be >= 0 (0: one pass), got {self.chunk_length}")
        require(not (self.chunk_length and self.bidirectional),
                "--chunk-length carries the state forwards from chunk to chunk, which a backward direction cannot "
                "read; add --no-bidirectional, or give --chunk-length 0")
        require(not (self.chunk_length and self.packed), "--chunk-length and --packed do not combine; drop one")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def features(self) -> int:
        """Width of the pooled vector the head reads."""
        parts = {"mean+max": 2, "concat": 3}.get(self.pooling, 1)
        return self.hidden_sizes[-1] * (2 if self.bidirectional else 1) * parts


@dataclass(frozen=True)
class TransferConfig:
    """A classifier started from a language model (ULMFiT, Howard & Ruder 2018), and how its layers
    are trained. All inert (a classifier from scratch) in runs saved before it existed."""

    # The language model's run folder whose embedding and recurrent layers start the encoder;
    # its tokenizer and vocabulary (extended with the training texts' words seen --min-freq
    # times) become the classifier's.
    init_from: str = ""
    # Minutes to fine-tune that language model on the training part's texts (and `unlabelled`)
    # before classifying, in RUN/lm; 0: use it as it is.
    lm_finetune: float = 0.0
    # More text for that fine-tuning: a text file, or a folder of them (read recursively).
    unlabelled: str = ""
    # Discriminative rates: each layer below the head learns this many times slower than the one
    # above it (ULMFiT: 2.6); 1: one rate for all.
    layer_lr_decay: float = 1.0
    # Gradual unfreezing: the head trains alone for this many epochs, then each stage adds the
    # next layer down, the embedding last; 0: everything trains from the start.
    unfreeze_epochs: float = 0.0

    def __post_init__(self) -> None:
        require(self.lm_finetune >= 0 and math.isfinite(self.lm_finetune),
                f"--lm-finetune takes minutes >= 0, got {self.lm_finetune}")
        require(not self.lm_finetune or self.init_from,
                "--lm-finetune fine-tunes a language model: add --init-from LM_RUN")
        require(not self.unlabelled or self.lm_finetune,
                "--unlabelled is text for --lm-finetune MINUTES; add it, or drop --unlabelled")
        require(self.layer_lr_decay >= 1 and math.isfinite(self.layer_lr_decay),
                f"--layer-lr-decay must be >= 1 (1: one rate for every layer), got {self.layer_lr_decay}; try 2.6")
        require(self.unfreeze_epochs >= 0 and math.isfinite(self.unfreeze_epochs),
                f"--unfreeze-epochs must be >= 0 (0: no gradual unfreezing), got {self.unfreeze_epochs}; try 1")


@dataclass(frozen=True)
class ClassifyRunConfig:
    """Everything needed to rebuild a classifier run: RUN/config.json."""

    data: LabelledDataConfig
    model: ClassifierConfig
    train: TrainConfig
    # Which quantity picks the best checkpoint and stops training early.
    monitor: str = "loss"
    transfer: TransferConfig = TransferConfig()
    kind: str = "classifier"
    version: str = ""

    def __post_init__(self) -> None:
        require(self.monitor in MONITORS, f"unknown --monitor {self.monitor!r}; choose loss or accuracy")
        require(not self.model.freeze_embeddings or self.model.embeddings or self.transfer.init_from,
                "--freeze-embeddings keeps a pretrained embedding: add --embeddings FILE (word2vec or GloVe) or a "
                "name such as glove-6b-50d, or --init-from LM_RUN")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> "ClassifyRunConfig":
        raw = read_run_json(path, "lstmlab classify train", kind="classifier")
        raw = {**raw, "train": train_config_from_json(raw.get("train", {}), f"{path}.train")}
        if isinstance(raw.get("data"), dict):  # runs saved before split_version were split by version 1
            raw["data"] = {"split_version": 1, **raw["data"]}
        parts = {"data": LabelledDataConfig, "model": ClassifierConfig, "train": TrainConfig,
                 "transfer": TransferConfig}
        return build_run_config(cls, raw, parts, str(path), monitor=str(raw.get("monitor", "loss")),
                                version=str(raw.get("version", "")))


# Training defaults for classifiers, where they differ from TrainConfig's:
# evaluate once an epoch, stop after 4 epochs without improvement.
TRAIN_DEFAULTS: dict[str, Any] = dict(lr=2e-3, batch_size=32, warmup_steps=0, epochs=20.0, minutes=10.0, patience=4,
                                      ema_decay=0.0)

# With pretrained vectors (--embeddings), where not given: keep the words seen once (their
# vectors are trained already, not an untrained row), and wait longer before stopping early
# (small validation sets are noisy). imdb_labelled, 5 folds: 0.773 -> 0.813 (BENCHMARKS.md §8b).
PRETRAINED_DEFAULTS: dict[str, Any] = dict(min_freq=1, patience=8)

# A classifier started from a language model (--init-from), where not given: ULMFiT's recipe
# (Howard & Ruder 2018): one direction (the language model's), concat pooling and a batch-normalised
# head with a hidden layer of 50, texts read whole in chunks of 70 tokens, discriminative rates
# (2.6) and gradual unfreezing (an epoch a stage) under a slanted triangular rate peaking at 0.02.
# The batch norm, the rate, and the best checkpoint picked by validation accuracy with a patience
# of 8 are what the first trials on Pang & Lee favoured (BENCHMARKS.md §21: without the first two
# the head barely learnt; the validation loss of 160 reviews was too noisy to pick by); the rest is
# ULMFiT's, not yet measured one by one.
TRANSFER_DEFAULTS: dict[str, Any] = dict(bidirectional=False, pooling="concat", head_hidden=50, head_norm=True,
                                         chunk_length=70, layer_lr_decay=2.6, unfreeze_epochs=1.0,
                                         schedule="slanted", lr=2e-2, dropout=0.3, word_dropout=0.1, min_freq=2,
                                         monitor="accuracy", patience=8)
