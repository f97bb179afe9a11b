"""Text classification: the task the Trainer runs, and the Python API.

    import lstmlab.classify as classify
    clf = classify.train("Tweets.csv", "runs/airline", text_column="text",
                         label_column="airline_sentiment", minutes=3)
    clf = classify.load("runs/airline")
    clf.predict(["@united thanks, great flight!"])        # ['positive']
    clf.predict_proba(["..."])                            # (N, classes) array
    print(clf.evaluate("other.csv").format())             # accuracy, macro-F1, per class, confusion

A run folder holds config.json (ClassifyRunConfig), tokenizer.json,
model.safetensors (best weights), checkpoint.safetensors (last state,
resumable), metrics.jsonl, training.png, and the test set's report.json
and confusion.png.

The default recipe, chosen on the benchmarks in BENCHMARKS.md: lowercased
words, those seen once in training read as <unk>; texts cut at the 95th
percentile of the training lengths; a bidirectional LSTM (128 units each way)
over 128-wide embeddings, mean-pooled over the real steps; dropout 0.5 and
word dropout 0.2; Adam at 2e-3 with a cosine decay over at most 20 epochs or
10 minutes; batches of texts of similar length (less padding); validation
every epoch, the best checkpoint kept, and training stopped after 4
evaluations without a better validation loss.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import checkpoint
from .api import _budget_text, _version  # the language model's own wording, shared
from .baseline import BaselineResult, tfidf_logistic_regression
from .classifier import SequenceClassifier, collate, coverage_text, init_embedding, read_vectors
from .config import (ClassifierConfig, ClassifyRunConfig, LabelledDataConfig, TrainConfig, check_resume_settings,
                     task_train_config)
from .errors import LstmlabError
from .labelled import Labelled, Split, balance_table, check_classes, clean_text, length_stats, read_labelled, split_data, suggest_length
from .metrics import Report, plot_confusion
from .plots import plot_losses
from .tokenizers import PAD, TOKENIZERS, UNK, Tokenizer, load_tokenizer
from .trainer import Trainer, read_metrics

PathLike = Union[str, Path]
TOKENIZER_FILE = "tokenizer.json"
REPORT_FILE = "report.json"
CONFUSION_PNG = "confusion.png"
TRAINING_PNG = "training.png"

# Training defaults for classifiers, where they differ from the language model's
# (TrainConfig): evaluate once an epoch, stop after 4 epochs without improvement.
TRAIN_DEFAULTS: dict[str, Any] = dict(lr=2e-3, batch_size=32, warmup_steps=0, epochs=20.0, minutes=10.0, patience=4)
EVAL_BATCH_TOKENS = 16_384
MONITOR_KEYS = {"loss": "val_loss", "accuracy": "val_error"}


# ---------------------------------------------------------------------------
# Encoded data and batches
# ---------------------------------------------------------------------------


@dataclass
class Encoded:
    """Token ids per text (already cut to the run's max length) and class indices."""

    ids: list[np.ndarray]
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([max(len(s), 1) for s in self.ids], dtype=np.int64)


def truncate(ids: np.ndarray, max_length: int, side: str) -> np.ndarray:
    if len(ids) <= max_length:
        return ids
    return ids[:max_length] if side == "head" else ids[-max_length:]


def bucket_batches(lengths: np.ndarray, batch_size: int, seed: int, pool_batches: int = 50) -> list[np.ndarray]:
    """Batches of similar lengths, so little of each batch is padding: shuffle,
    sort each pool of `pool_batches` batches by length, cut it into batches,
    and shuffle the batches. Deterministic given the seed."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    pool = batch_size * pool_batches
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start:start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def length_order_batches(lengths: np.ndarray, max_tokens: int = EVAL_BATCH_TOKENS) -> list[np.ndarray]:
    """For inference: all texts sorted by length, in batches of about max_tokens padded tokens."""
    order = np.argsort(lengths, kind="stable")
    batches, current = [], []
    for index in order:
        if current and (len(current) + 1) * lengths[index] > max_tokens:
            batches.append(np.array(current))
            current = []
        current.append(index)
    if current:
        batches.append(np.array(current))
    return batches


def predict_encoded(model: SequenceClassifier, ids: list[np.ndarray]) -> np.ndarray:
    """Probabilities (N, classes), in the texts' order."""
    lengths = np.array([max(len(s), 1) for s in ids], dtype=np.int64)
    probs = np.zeros((len(ids), model.config.num_classes), dtype=np.float64)
    for batch in length_order_batches(lengths):
        probs[batch] = model.predict_proba(*collate([ids[i] for i in batch])).double().numpy()
    return probs


def report_of(probs: np.ndarray, y: np.ndarray, classes: Sequence[str]) -> Report:
    loss = float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None)).mean()) if len(y) else float("nan")
    return Report.of(classes, y, probs.argmax(1) if len(y) else np.zeros(0, dtype=np.int64), loss)


class ClassificationTask:
    """What the Trainer needs: bucketed batches, the cross-entropy, validation scores."""

    unit = "token"  # the Trainer reports tokens/s
    resume_command = "lstmlab classify train"

    def __init__(self, train: Encoded, val: Encoded, config: TrainConfig, classes: Sequence[str], monitor: str = "loss"):
        self.train, self.val, self.config, self.classes = train, val, config, list(classes)
        self.monitor = MONITOR_KEYS[monitor]
        self.lengths = train.lengths
        self.steps_per_epoch = max(1, math.ceil(len(train) / config.batch_size))
        self.chars_per_step = int(self.lengths.mean() * min(config.batch_size, len(train)))
        self._epoch: Optional[int] = None
        self._batches: list[np.ndarray] = []

    def batch(self, epoch: int, index: int):
        if epoch != self._epoch:
            self._epoch, self._batches = epoch, bucket_batches(self.lengths, self.config.batch_size,
                                                               self.config.seed * 100_003 + epoch)
        rows = self._batches[index]
        ids, lengths = collate([self.train.ids[i] for i in rows])
        return ids, lengths, torch.from_numpy(self.train.y[rows])

    def training_loss(self, model: SequenceClassifier, batch, carry):
        ids, lengths, y = batch
        return F.cross_entropy(model(ids, lengths).float(), y), None

    def evaluate(self, model: SequenceClassifier) -> dict[str, float]:
        report = report_of(predict_encoded(model, self.val.ids), self.val.y, self.classes)
        return {"val_loss": report.loss, "val_accuracy": report.accuracy, "val_macro_f1": report.macro_f1,
                "val_error": 1.0 - report.accuracy}

    @staticmethod
    def describe(metrics: dict[str, float]) -> str:
        return (f"val loss {metrics['val_loss']:.4f} | accuracy {metrics['val_accuracy']:.4f} | "
                f"macro-F1 {metrics['val_macro_f1']:.4f}")


# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------

DATA_FIELDS = {f.name for f in fields(LabelledDataConfig)} - {"source"}
MODEL_FIELDS = {f.name for f in fields(ClassifierConfig)} - {"vocab_size", "classes"}
TRAIN_FIELDS = {f.name for f in fields(TrainConfig)}


def split_settings(settings: dict[str, Any]) -> tuple[dict, dict, dict, str]:
    """Route keyword settings to the config that owns them; unknown names are errors."""
    data, model, train = {}, {}, {}
    monitor = settings.pop("monitor", None) or "loss"
    for key, value in settings.items():
        if key in DATA_FIELDS:
            data[key] = value
        elif key in MODEL_FIELDS:
            model[key] = value
        elif key in TRAIN_FIELDS:
            train[key] = value
        else:
            known = sorted(DATA_FIELDS | MODEL_FIELDS | TRAIN_FIELDS | {"monitor"})
            raise LstmlabError(f"unknown setting {key!r}; known settings: {', '.join(known)}")
    return data, model, train, monitor


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


def _encode_all(tokenizer: Tokenizer, texts: Iterable[str], max_length: int, side: str) -> list[np.ndarray]:
    return [truncate(tokenizer.encode(text), max_length, side) for text in texts]


def _encoded(tokenizer, part: Labelled, classes: list[str], data_cfg: LabelledDataConfig) -> Encoded:
    y = np.array([classes.index(label) for label in part.labels], dtype=np.int64)
    return Encoded(_encode_all(tokenizer, part.texts, data_cfg.max_length, data_cfg.truncate), y)


def prepare_split(data_cfg: LabelledDataConfig) -> tuple[Split, list[str]]:
    data = read_labelled(data_cfg.source, data_cfg)
    classes = check_classes(data)
    split = split_data(data, data_cfg)
    return split, classes


def train(
    data: Optional[str] = None,
    out: PathLike = "runs/classifier",
    *,
    resume: bool = False,
    baseline: bool = True,
    log: Callable[[str], None] = tqdm.write,
    show_progress: Optional[bool] = None,
    **settings: Any,
) -> "Classifier":
    """Train a text classifier on labelled `data` and return it (best weights loaded).

    `data` is a CSV/TSV file, a folder with one sub-folder of .txt files per
    label, or a .tar.gz of such folders (see labelled.py). Settings are the
    fields of LabelledDataConfig (text_column, label_column, positive_vs_rest,
    max_length, ...), ClassifierConfig (cell, hidden_sizes, bidirectional,
    pooling, embeddings, ...) and TrainConfig (minutes, epochs, lr, ...), and
    monitor ("loss" or "accuracy"). With baseline=True, a TF-IDF + logistic
    regression baseline is fitted on the same split and reported beside it.
    With resume=True, `out` is continued; budget settings then mean "this much more".
    """
    run_dir = Path(out)
    if resume:
        return _resume(run_dir, log, show_progress, baseline, settings)
    if data is None:
        raise LstmlabError("give the labelled data to train on: a CSV/TSV file, a folder of pos/ neg/ .txt files, or a .tar.gz")
    checkpoint.check_fresh_run_dir(run_dir)
    data_kw, model_kw, train_kw, monitor = split_settings(dict(settings))
    # Every setting is checked before the data is read, so a bad flag fails at once.
    data_cfg = LabelledDataConfig(source=str(data), **data_kw)
    task_train_config(TRAIN_DEFAULTS, train_kw, 1)
    ClassifierConfig(vocab_size=3, classes=("a", "b"), **{**model_kw, **({"embed_dim": 1} if model_kw.get("embeddings") else {})})
    ClassifyRunConfig(data_cfg, ClassifierConfig(vocab_size=3, classes=("a", "b")), TrainConfig(), monitor=monitor)

    split, classes = prepare_split(data_cfg)
    log(f"data: {data_cfg.source}: {len(split.train) + len(split.val) + len(split.test or []):,} examples, "
        f"{len(classes)} classes; {split.how}")
    parts = {"train": split.train, "validation": split.val, **({"test": split.test} if split.test else {})}
    log(balance_table(parts, classes))

    tokenizer = TOKENIZERS[data_cfg.tokenizer].build(split.train.texts, lowercase=data_cfg.lowercase,
                                                     max_size=data_cfg.max_vocab, min_freq=data_cfg.min_freq)
    raw = [tokenizer.encode(text) for text in split.train.texts]
    lengths = np.array([len(s) for s in raw])
    if data_cfg.max_length is None:
        data_cfg = dataclasses.replace(data_cfg, max_length=suggest_length(np.percentile(lengths, 95)))
        chosen = "the 95th percentile of the training texts, rounded up to a multiple of 8"
    else:
        chosen = "--max-length"
    stats = length_stats(lengths, data_cfg.max_length)
    log(f"vocabulary: {len(tokenizer):,} {data_cfg.tokenizer} tokens; texts: {stats.mean:.1f} tokens on average, "
        f"95% up to {stats.percentiles[95]:,}, longest {stats.longest:,}; max length {data_cfg.max_length:,} "
        f"({chosen}): {stats.truncated:,} training texts cut ({stats.truncated / stats.count:.1%})")

    train_set = Encoded([truncate(s, data_cfg.max_length, data_cfg.truncate) for s in raw],
                        np.array([classes.index(label) for label in split.train.labels], dtype=np.int64))
    val_set = _encoded(tokenizer, split.val, classes, data_cfg)

    vectors = None
    if model_kw.get("embeddings"):
        vectors, hit = read_vectors(model_kw["embeddings"], tokenizer.symbols, tokenizer.lowercase)
        model_kw["embed_dim"] = vectors.shape[1]
        counts = np.bincount(np.concatenate(raw) if raw else np.zeros(0, dtype=np.int64), minlength=len(tokenizer))
        log(f"embeddings: {model_kw['embeddings']} ({vectors.shape[1]} dimensions): {coverage_text(hit, counts)}"
            + ("; frozen" if model_kw.get("freeze_embeddings") else "; trained further"))
    model_cfg = ClassifierConfig(vocab_size=len(tokenizer), classes=tuple(classes), **model_kw)
    steps_per_epoch = max(1, math.ceil(len(train_set) / train_kw.get("batch_size", TRAIN_DEFAULTS["batch_size"])))
    train_cfg = task_train_config(TRAIN_DEFAULTS, train_kw, steps_per_epoch)
    config = ClassifyRunConfig(data=data_cfg, model=model_cfg, train=train_cfg, monitor=monitor, version=_version())

    torch.manual_seed(train_cfg.seed)
    model = SequenceClassifier(model_cfg)
    if vectors is not None:
        init_embedding(model, vectors, hit, train_cfg.seed)
    task = ClassificationTask(train_set, val_set, train_cfg, classes, monitor)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint.save_text_atomic(run_dir / "config.json", config.to_json())
    checkpoint.save_text_atomic(run_dir / TOKENIZER_FILE, tokenizer.to_json())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log(f"model: {'bidirectional ' if model_cfg.bidirectional else ''}{model_cfg.cell} "
        f"{'x'.join(map(str, model_cfg.hidden_sizes))}, {model_cfg.pooling} pooling, embeddings {model_cfg.embed_dim}, "
        f"{trainable:,} trainable parameters; {task.steps_per_epoch:,} steps per epoch; budget: {_budget_text(train_cfg)}; "
        f"best checkpoint by validation {monitor}")
    trainer = Trainer(model, task, train_cfg, run_dir, log=log, show_progress=show_progress)
    return _fit_and_report(trainer, config, split, classes, tokenizer, run_dir, baseline, log)


def _resume(run_dir: Path, log, show_progress, baseline: bool, settings: dict[str, Any]) -> "Classifier":
    check_resume_settings(settings)
    config = ClassifyRunConfig.load(run_dir / "config.json")
    tokenizer = load_tokenizer(run_dir / TOKENIZER_FILE)
    split, classes = prepare_split(config.data)
    if classes != list(config.model.classes):
        raise LstmlabError(f"{config.data.source} now has the classes {classes}, the run was trained on "
                           f"{list(config.model.classes)}; start a new run")
    task = ClassificationTask(_encoded(tokenizer, split.train, classes, config.data),
                              _encoded(tokenizer, split.val, classes, config.data), config.train, classes, config.monitor)
    model = SequenceClassifier(config.model)
    trainer = Trainer(model, task, config.train, run_dir, log=log, show_progress=show_progress)
    trainer.resume()
    trainer.extend_budget(steps=settings.get("max_steps"), minutes=settings.get("minutes"), epochs=settings.get("epochs"))
    log(f"resuming {run_dir} at step {trainer.progress.step:,}; budget: {_budget_text(trainer.cfg)}")
    return _fit_and_report(trainer, config, split, classes, tokenizer, run_dir, baseline, log)


def _fit_and_report(trainer: Trainer, config: ClassifyRunConfig, split: Split, classes: list[str], tokenizer,
                    run_dir: Path, baseline: bool, log) -> "Classifier":
    try:
        progress = trainer.fit()
    finally:
        metrics = read_metrics(run_dir)
        if metrics:
            plot_losses(metrics, run_dir / TRAINING_PNG, unit="")
    best = read_metrics(run_dir)
    best_row = next((m for m in best if m["step"] == progress.best_step), {})
    log(f"stopped after {progress.step:,} steps ({progress.step / trainer.task.steps_per_epoch:.1f} epochs, "
        f"{progress.elapsed_s:,.0f}s; {progress.stop_reason}); best checkpoint: step {progress.best_step:,}, "
        f"validation loss {best_row.get('val_loss', float('nan')):.4f}, accuracy {best_row.get('val_accuracy', float('nan')):.4f}")
    clf = load(run_dir)
    held_out, name = (split.test, "test") if split.test is not None else (split.val, "validation")
    encoded = _encoded(tokenizer, held_out, classes, config.data)
    report = report_of(predict_encoded(clf.model, encoded.ids), encoded.y, classes)
    log(f"\n{config.model.cell} classifier on the {name} set ({len(held_out):,} examples):\n{report.format()}")
    plot_confusion(report, run_dir / CONFUSION_PNG,
                   title=f"{config.model.cell}, {name} set: accuracy {report.accuracy:.3f}, macro-F1 {report.macro_f1:.3f}")
    result: dict[str, Any] = {"held_out": name, "examples": {"train": len(split.train), "validation": len(split.val),
                                                             "test": len(split.test) if split.test else 0},
                              "split": split.how, "classifier": report.to_dict(),
                              "training": {"steps": progress.step, "seconds": round(progress.elapsed_s, 1),
                                           "best_step": progress.best_step, "stop_reason": progress.stop_reason}}
    if baseline:
        base = run_baseline(tokenizer, split, classes, held_out)
        log(f"\nbaseline: TF-IDF (words and word pairs) + logistic regression (C={base.C:g}, picked on validation), "
            f"same split, {base.seconds:.1f}s:\n{base.report.format()}")
        diff = report.accuracy - base.report.accuracy
        log(f"\n{config.model.cell}: accuracy {report.accuracy:.4f}, macro-F1 {report.macro_f1:.4f} | baseline: accuracy "
            f"{base.report.accuracy:.4f}, macro-F1 {base.report.macro_f1:.4f} | the {config.model.cell} is "
            f"{abs(diff) * 100:.1f} points {'better' if diff >= 0 else 'worse'}")
        result["baseline"] = {"model": "tfidf-logistic-regression", "C": base.C, "seconds": round(base.seconds, 1),
                              **base.report.to_dict()}
    checkpoint.save_text_atomic(run_dir / REPORT_FILE, json.dumps(result, indent=2) + "\n")
    log(f"saved in {run_dir} ({REPORT_FILE}, {CONFUSION_PNG}, {TRAINING_PNG})")
    clf.report = report
    clf.baseline = result.get("baseline")
    return clf


def run_baseline(tokenizer, split: Split, classes: list[str], held_out: Labelled) -> BaselineResult:
    def y(part: Labelled) -> list[int]:
        return [classes.index(label) for label in part.labels]
    return tfidf_logistic_regression(tokenizer.tokenize, split.train.texts, y(split.train), split.val.texts,
                                     y(split.val), held_out.texts, y(held_out), classes)


# ---------------------------------------------------------------------------
# A trained classifier
# ---------------------------------------------------------------------------


class Classifier:
    """A trained run: config, tokenizer and best weights."""

    def __init__(self, run_dir: Path, config: ClassifyRunConfig, tokenizer: Tokenizer, model: SequenceClassifier):
        self.run_dir, self.config, self.tokenizer, self.model = run_dir, config, tokenizer, model
        self.report: Optional[Report] = None  # the held-out report, right after training
        self.baseline: Optional[dict] = None

    @property
    def classes(self) -> list[str]:
        return list(self.config.model.classes)

    def encode(self, texts: Iterable[str]) -> list[np.ndarray]:
        """Token ids as the classifier reads them: cleaned, tokenised, cut to the run's max length."""
        data = self.config.data
        return _encode_all(self.tokenizer, (clean_text(t) for t in texts), data.max_length, data.truncate)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(N, classes) probabilities; columns in the order of `classes`."""
        if isinstance(texts, str):
            raise LstmlabError("predict_proba takes a list of texts; wrap a single text in a list")
        return predict_encoded(self.model, self.encode(texts))

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most likely class of each text."""
        classes = self.classes
        return [classes[i] for i in self.predict_proba(texts).argmax(1)]

    def classify(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """(class, its probability) for each text."""
        probs = self.predict_proba(texts)
        return [(self.classes[i], float(p[i])) for p, i in zip(probs, probs.argmax(1))]

    def read(self, data: Optional[str] = None, **reading: Any) -> Labelled:
        """Labelled examples read as the run read its training data (columns,
        quoting, label mapping), with `reading` overriding any of those settings.
        With no `data`: the run's own held-out test set (or validation set)."""
        unknown = sorted(set(reading) - DATA_FIELDS)
        if unknown:
            raise LstmlabError(f"unknown reading setting(s) {', '.join(unknown)}; known: {', '.join(sorted(DATA_FIELDS))}")
        cfg = dataclasses.replace(self.config.data, **reading)
        if data is None:
            split = split_data(read_labelled(cfg.source, cfg), cfg)
            return split.test if split.test is not None else split.val
        labelled = read_labelled(str(data), cfg)
        unknown_labels = sorted(set(labelled.labels) - set(self.classes))
        if unknown_labels:
            raise LstmlabError(f"{data} has label(s) the classifier does not know: {', '.join(unknown_labels[:10])}; "
                               f"it knows: {', '.join(self.classes)} (map them with --map-labels or leave them out "
                               "with --keep-labels)")
        return labelled

    def evaluate(self, data: Optional[str] = None, **reading: Any) -> Report:
        """Accuracy, macro-F1, per-class precision/recall and the confusion matrix on labelled data."""
        labelled = self.read(data, **reading)
        y = np.array([self.classes.index(label) for label in labelled.labels], dtype=np.int64)
        return report_of(self.predict_proba(labelled.texts), y, self.classes)


def load(run_dir: PathLike) -> Classifier:
    """Load a classifier run folder (config.json, tokenizer.json, model.safetensors)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise LstmlabError(f"no such run folder: {run_dir}; train one with: lstmlab classify train DATA --out {run_dir}")
    config = ClassifyRunConfig.load(run_dir / "config.json")
    tokenizer = load_tokenizer(run_dir / TOKENIZER_FILE)
    if len(tokenizer) != config.model.vocab_size:
        raise LstmlabError(f"{run_dir}/{TOKENIZER_FILE} has {len(tokenizer)} symbols but config.json expects "
                           f"{config.model.vocab_size}; restore the run's files")
    model = SequenceClassifier(config.model)
    checkpoint.load_weights(model, run_dir / checkpoint.BEST)
    model.eval()
    return Classifier(run_dir, config, tokenizer, model)


def stats(data: str, max_length: Optional[int] = None, **reading: Any) -> str:
    """Seed 001's test_len for labelled data: the class balance, and how many texts
    a max length pads, fits exactly or cuts, with a suggested length."""
    unknown = sorted(set(reading) - DATA_FIELDS)
    if unknown:
        raise LstmlabError(f"unknown setting(s) {', '.join(unknown)}")
    cfg = LabelledDataConfig(source=str(data), **reading)
    labelled = read_labelled(cfg.source, cfg)
    classes = check_classes(labelled)
    tokenizer = TOKENIZERS[cfg.tokenizer]([PAD, UNK], cfg.lowercase)
    lengths = [len(tokenizer.tokenize(text)) for text in labelled.texts]
    suggested = suggest_length(np.percentile(lengths, 95))
    result = length_stats(lengths, max_length or suggested)
    lines = [f"{data}: {len(labelled):,} examples, {len(classes)} classes", balance_table({"all": labelled}, classes), "",
             result.format(unit="characters" if cfg.tokenizer == "char" else "tokens")]
    if not max_length:
        lines.insert(2, f"(no --max-length given: counts below are for the suggested {suggested:,})")
    return "\n".join(lines)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)
