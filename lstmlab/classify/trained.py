"""A trained classifier: load a run folder, then predict, classify and evaluate; and `stats` of labelled data.

    clf = lstmlab.classify.load("runs/airline")
    clf.predict(["@united thanks, great flight!"])        # ['positive']
    clf.predict_proba(["..."])                            # (N, classes) array
    print(clf.evaluate("other.csv").format())             # accuracy, macro-F1, per class, confusion
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from .. import checkpoint
from ..checkpoint import PathLike
from ..config import field_names
from ..devices import resolve_device
from ..errors import LstmlabError
from ..tokenizers import PAD, TOKENIZERS, UNK, Tokenizer, load_tokenizer
from .config import ClassifyRunConfig, LabelledDataConfig
from .data import Labelled, balance_table, check_classes, repair_text, length_stats, read_labelled, split_data, suggest_length
from .metrics import Report
from .model import SequenceClassifier
from .task import encode_texts, predict_encoded, report_of

TOKENIZER_FILE = "tokenizer.json"
REPORT_FILE = "report.json"
CONFUSION_PNG = "confusion.png"
TRAINING_PNG = "training.png"
# The settings that say how labelled data is read (all of LabelledDataConfig but the source).
DATA_FIELDS = field_names(LabelledDataConfig, "source")


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
        return encode_texts(self.tokenizer, (repair_text(t) for t in texts), data.max_length, data.truncate)

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


def load(run_dir: PathLike, device: Optional[str] = "auto") -> Classifier:
    """Load a classifier run folder (config.json, tokenizer.json, model.safetensors) onto
    `device`: auto (None too) picks cuda, then mps, then cpu; or cpu, cuda, cuda:N, mps."""
    where = resolve_device(device)  # first: a device that is not here is the error to report
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise LstmlabError(f"no such run folder: {run_dir}; train one with: lstmlab classify train DATA --out {run_dir}")
    config = ClassifyRunConfig.load(run_dir / "config.json")
    tokenizer = load_tokenizer(run_dir / TOKENIZER_FILE)
    if len(tokenizer) != config.model.vocab_size:
        raise LstmlabError(f"{run_dir}/{TOKENIZER_FILE} has {len(tokenizer)} symbols but config.json expects "
                           f"{config.model.vocab_size}; restore the run's files")
    model = SequenceClassifier(config.model)
    checkpoint.load_weights(model, run_dir / checkpoint.BEST)  # read on the CPU, then moved
    model.to(where).eval()
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
