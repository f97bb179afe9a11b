"""Text classification as the Trainer sees it: encoded texts, batches of similar lengths, the loss and scores."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..config import TrainConfig
from ..distributed import Group
from ..tokenizers import Tokenizer
from ..trainer import ParameterGroup
from .config import LabelledDataConfig, TransferConfig
from .data import Labelled
from .metrics import Report
from .model import SequenceClassifier, collate

EVAL_BATCH_TOKENS = 16_384
MONITOR_KEYS = {"loss": "val_loss", "accuracy": "val_error"}



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
    loss_label = "cross-entropy (nats)"

    def __init__(self, train: Encoded, val: Encoded, config: TrainConfig, classes: Sequence[str], monitor: str = "loss",
                 transfer: TransferConfig = TransferConfig()):
        self.train, self.val, self.config, self.classes = train, val, config, list(classes)
        self.transfer = transfer
        self.monitor = MONITOR_KEYS[monitor]
        self.lengths = train.lengths
        self.steps_per_epoch = max(1, math.ceil(len(train) / config.batch_size))
        self.units_per_step = int(self.lengths.mean() * min(config.batch_size, len(train)))
        self._epoch: Optional[int] = None
        self._batches: list[np.ndarray] = []

    def batch(self, epoch: int, index: int):
        if epoch != self._epoch:
            self._epoch, self._batches = epoch, bucket_batches(self.lengths, self.config.batch_size,
                                                               self.config.seed * 100_003 + epoch)
        rows = self._batches[index]
        ids, lengths = collate([self.train.ids[i] for i in rows])
        return ids, lengths, torch.from_numpy(self.train.y[rows])

    def parameter_groups(self, model: SequenceClassifier) -> list[ParameterGroup]:
        """The layers from the head down, each learning --layer-lr-decay times slower than the one
        above and starting --unfreeze-epochs later (ULMFiT's discriminative rates and gradual
        unfreezing); one group when both are off."""
        decay, stage = self.transfer.layer_lr_decay, round(self.transfer.unfreeze_epochs * self.steps_per_epoch)
        if decay == 1 and stage == 0:
            return [ParameterGroup(list(model.parameters()))]
        return [ParameterGroup(params, decay ** -k, k * stage) for k, params in enumerate(model.layer_groups())]

    def training_loss(self, model: SequenceClassifier, batch, carry):
        ids, lengths, y = batch
        return F.cross_entropy(model(ids, lengths).float(), y), None

    def evaluate(self, model: SequenceClassifier, group: Group = Group()) -> dict[str, float]:
        # Each rank predicts its share of the texts; summing the ranks' rows (zeros
        # elsewhere) gives every rank all the probabilities, for the same report.
        rows = group.share(len(self.val))
        probs = np.zeros((len(self.val), len(self.classes)))
        probs[rows] = predict_encoded(model, self.val.ids[rows])
        probs = group.sum_array(torch.from_numpy(probs)).numpy()
        report = report_of(probs, self.val.y, self.classes)
        return {"val_loss": report.loss, "val_accuracy": report.accuracy, "val_macro_f1": report.macro_f1,
                "val_error": 1.0 - report.accuracy}

    @staticmethod
    def describe(metrics: dict[str, float]) -> str:
        return (f"val loss {metrics['val_loss']:.4f} | accuracy {metrics['val_accuracy']:.4f} | "
                f"macro-F1 {metrics['val_macro_f1']:.4f}")


def encode_texts(tokenizer: Tokenizer, texts: Iterable[str], max_length: int, side: str) -> list[np.ndarray]:
    return [truncate(tokenizer.encode(text), max_length, side) for text in texts]


def encode_part(tokenizer, part: Labelled, classes: list[str], data_cfg: LabelledDataConfig) -> Encoded:
    y = np.array([classes.index(label) for label in part.labels], dtype=np.int64)
    return Encoded(encode_texts(tokenizer, part.texts, data_cfg.max_length, data_cfg.truncate), y)
