"""Classification scores: accuracy, macro-F1, per-class precision and recall,
the confusion matrix, printed as text and drawn as a PNG."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np


@dataclass(frozen=True)
class Report:
    """Scores of predictions against true classes (indices into `classes`), computed with
    scikit-learn's metrics (zero_division=0: a class never predicted, or absent from the
    truth, scores 0 where its share would divide by zero)."""

    classes: tuple[str, ...]
    confusion: np.ndarray  # (C, C) int: rows true class, columns predicted
    loss: Optional[float] = None  # mean cross-entropy (nats), when probabilities were given

    @classmethod
    def of(cls, classes: Sequence[str], truth: Sequence[int], predicted: Sequence[int],
           loss: Optional[float] = None) -> "Report":
        C = len(classes)
        truth, predicted = np.asarray(truth, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
        if truth.shape != predicted.shape or ((truth < 0) | (truth >= C) | (predicted < 0) | (predicted >= C)).any():
            raise ValueError(f"Report.of needs as many predictions as true classes, each an index below {C}")
        if not len(truth):  # scikit-learn refuses empty inputs
            return cls(tuple(classes), np.zeros((C, C), dtype=np.int64), loss)
        from sklearn.metrics import confusion_matrix  # here: scikit-learn takes a second to import

        matrix = confusion_matrix(truth, predicted, labels=np.arange(C)).astype(np.int64)
        return cls(tuple(classes), matrix, loss)

    @cached_property
    def _pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(true class, predicted class) of every example the confusion matrix counts, grouped
        by cell: what scikit-learn's metrics read."""
        C = len(self.classes)
        counts = np.asarray(self.confusion, dtype=np.int64).ravel()
        return np.repeat(np.repeat(np.arange(C), C), counts), np.repeat(np.tile(np.arange(C), C), counts)

    @cached_property
    def _scores(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-class precision, recall and F1 (0 for a class never predicted or never true)."""
        C = len(self.classes)
        if not self.count:
            return np.zeros(C), np.zeros(C), np.zeros(C)
        from sklearn.metrics import precision_recall_fscore_support

        p, r, f, _ = precision_recall_fscore_support(*self._pairs, labels=np.arange(C), zero_division=0)
        return np.asarray(p, dtype=float), np.asarray(r, dtype=float), np.asarray(f, dtype=float)

    @property
    def count(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        from sklearn.metrics import accuracy_score

        return float(accuracy_score(*self._pairs)) if self.count else 0.0

    @property
    def precision(self) -> np.ndarray:
        return self._scores[0].copy()

    @property
    def recall(self) -> np.ndarray:
        return self._scores[1].copy()

    @property
    def f1(self) -> np.ndarray:
        return self._scores[2].copy()

    @property
    def macro_f1(self) -> float:
        """The unweighted mean of the per-class F1 over the classes present in the truth or the predictions
        (scikit-learn's f1_score(average="macro") over the labels seen)."""
        from sklearn.metrics import f1_score

        return float(f1_score(*self._pairs, average="macro", zero_division=0)) if self.count else 0.0

    @property
    def majority(self) -> float:
        """Accuracy of always guessing the most common true class: the floor to beat."""
        return float(self.confusion.sum(1).max() / max(self.count, 1))

    def to_dict(self) -> dict[str, Any]:
        return {
            "examples": self.count,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "loss": self.loss,
            "majority_baseline": self.majority,
            "classes": list(self.classes),
            "per_class": {c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                          for c, p, r, f, s in zip(self.classes, self.precision, self.recall, self.f1,
                                                   self.confusion.sum(1))},
            "confusion": self.confusion.tolist(),
        }

    def format(self) -> str:
        width = max([len(c) for c in self.classes] + [9])
        loss = f", loss {self.loss:.4f} nats" if self.loss is not None else ""
        lines = [f"accuracy {self.accuracy:.4f} ({int(np.trace(self.confusion)):,} of {self.count:,}), "
                 f"macro-F1 {self.macro_f1:.4f}{loss}; always guessing the commonest class: {self.majority:.4f}", "",
                 f"{'class':<{width}}  precision  recall      f1  support"]
        for c, p, r, f, s in zip(self.classes, self.precision, self.recall, self.f1, self.confusion.sum(1)):
            lines.append(f"{c:<{width}}  {p:>9.3f}  {r:>6.3f}  {f:>6.3f}  {s:>7,}")
        cell = max(6, len(f"{self.confusion.max():,}") + 1)
        lines += ["", "confusion matrix (rows: true class, columns: predicted)",
                  f"{'':<{width}}" + "".join(f" {c[:cell]:>{cell}}" for c in self.classes)]
        for c, row in zip(self.classes, self.confusion):
            lines.append(f"{c:<{width}}" + "".join(f" {v:>{cell},}" for v in row))
        return "\n".join(lines)


def plot_confusion(report: Report, out: Path, title: str = "") -> None:
    """The confusion matrix as a PNG: counts, with each row's share as the colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    C = len(report.classes)
    support = report.confusion.sum(1, keepdims=True)
    shares = np.divide(report.confusion, support, out=np.zeros(report.confusion.shape), where=support > 0)
    size = 2.2 + 0.8 * C
    fig, ax = plt.subplots(figsize=(size + 1.2, size), dpi=100)
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(C):
        for j in range(C):
            ax.text(j, i, f"{report.confusion[i, j]:,}\n{shares[i, j]:.0%}", ha="center", va="center", fontsize=9,
                    color="white" if shares[i, j] > 0.6 else "black")
    ax.set_xticks(range(C), report.classes, rotation=30 if C > 3 else 0, ha="right" if C > 3 else "center")
    ax.set_yticks(range(C), report.classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"accuracy {report.accuracy:.3f}, macro-F1 {report.macro_f1:.3f}", fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    tmp = Path(out).with_name(Path(out).stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out)
