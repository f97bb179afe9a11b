"""Classification scores: accuracy, macro-F1, per-class precision and recall,
the confusion matrix, printed as text and drawn as a PNG."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np


@dataclass(frozen=True)
class Report:
    """Scores of predictions against true classes (indices into `classes`)."""

    classes: tuple[str, ...]
    confusion: np.ndarray  # (C, C) int: rows true class, columns predicted
    loss: Optional[float] = None  # mean cross-entropy (nats), when probabilities were given

    @classmethod
    def of(cls, classes: Sequence[str], truth: Sequence[int], predicted: Sequence[int],
           loss: Optional[float] = None) -> "Report":
        C = len(classes)
        matrix = np.zeros((C, C), dtype=np.int64)
        np.add.at(matrix, (np.asarray(truth, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
        return cls(tuple(classes), matrix, loss)

    @property
    def count(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(self.count, 1))

    @property
    def precision(self) -> np.ndarray:
        predicted = self.confusion.sum(0)
        return np.divide(np.diag(self.confusion), predicted, out=np.zeros(len(self.classes)), where=predicted > 0)

    @property
    def recall(self) -> np.ndarray:
        support = self.confusion.sum(1)
        return np.divide(np.diag(self.confusion), support, out=np.zeros(len(self.classes)), where=support > 0)

    @property
    def f1(self) -> np.ndarray:
        p, r = self.precision, self.recall
        return np.divide(2 * p * r, p + r, out=np.zeros(len(self.classes)), where=(p + r) > 0)

    @property
    def macro_f1(self) -> float:
        """The unweighted mean of the per-class F1 over the classes present in the truth or the predictions
        (scikit-learn's f1_score(average="macro") over the labels seen)."""
        seen = (self.confusion.sum(0) + self.confusion.sum(1)) > 0
        return float(self.f1[seen].mean()) if seen.any() else 0.0

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
