"""The classification Report, now computed with scikit-learn's metrics, against an independent
count by hand, and its printed form as the hand-written version printed it."""

from __future__ import annotations

import numpy as np
import pytest

from lstmlab.classify.metrics import Report

CLASSES = ["neg", "neutral", "pos", "spam"]
# "neutral" is never predicted; "spam" is never true, but predicted once.
TRUTH = [0, 0, 0, 1, 1, 2, 2, 2, 2, 0]
PREDICTED = [0, 2, 0, 2, 0, 2, 2, 0, 2, 3]

# What the hand-written Report (before scikit-learn) printed for these predictions.
FORMATTED = """\
accuracy 0.5000 (5 of 10), macro-F1 0.2917, loss 0.6931 nats; always guessing the commonest class: 0.4000

class      precision  recall      f1  support
neg            0.500   0.500   0.500        4
neutral        0.000   0.000   0.000        2
pos            0.600   0.750   0.667        4
spam           0.000   0.000   0.000        0

confusion matrix (rows: true class, columns: predicted)
             neg neutra    pos   spam
neg            2      0      1      1
neutral        1      0      1      0
pos            1      0      3      0
spam           0      0      0      0"""


def by_hand(classes, truth, predicted):
    """Precision, recall, F1 per class, accuracy and macro-F1 (over the classes seen in the truth
    or the predictions), counted in plain Python; 0 wherever a share would divide by zero."""
    pairs = list(zip(truth, predicted))
    precision, recall, f1 = [], [], []
    for c in range(len(classes)):
        tp = sum(t == c and p == c for t, p in pairs)
        predicted_c = sum(p == c for _, p in pairs)
        true_c = sum(t == c for t, _ in pairs)
        prec = tp / predicted_c if predicted_c else 0.0
        rec = tp / true_c if true_c else 0.0
        precision.append(prec)
        recall.append(rec)
        f1.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    seen = sorted(set(truth) | set(predicted))
    accuracy = sum(t == p for t, p in pairs) / len(pairs) if pairs else 0.0
    macro = sum(f1[c] for c in seen) / len(seen) if seen else 0.0
    return precision, recall, f1, accuracy, macro


def check_against_hand(classes, truth, predicted):
    report = Report.of(classes, truth, predicted)
    precision, recall, f1, accuracy, macro = by_hand(classes, truth, predicted)
    assert report.count == len(truth)
    assert report.precision == pytest.approx(precision, abs=1e-12)
    assert report.recall == pytest.approx(recall, abs=1e-12)
    assert report.f1 == pytest.approx(f1, abs=1e-12)
    assert report.accuracy == pytest.approx(accuracy, abs=1e-12)
    assert report.macro_f1 == pytest.approx(macro, abs=1e-12)
    expected = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t, p in zip(truth, predicted):
        expected[t, p] += 1
    assert report.confusion.dtype == np.int64 and (report.confusion == expected).all()


def test_scores_match_a_count_by_hand_with_a_class_never_predicted_and_one_never_true():
    check_against_hand(CLASSES, TRUTH, PREDICTED)
    report = Report.of(CLASSES, TRUTH, PREDICTED)
    assert report.precision[1] == 0 and report.recall[3] == 0 and report.f1[3] == 0
    assert report.macro_f1 == pytest.approx((0.5 + 0 + 2 / 3 + 0) / 4)
    # A class neither true nor predicted does not count in the macro-F1.
    assert Report.of(CLASSES, [0, 0, 2], [0, 2, 2]).macro_f1 == pytest.approx((2 / 3 + 2 / 3) / 2)


def test_scores_match_a_count_by_hand_on_random_predictions():
    rng = np.random.default_rng(0)
    for trial in range(200):
        C = int(rng.integers(2, 6))
        n = int(rng.integers(1, 40))
        truth, predicted = rng.integers(0, C, n), rng.integers(0, C, n)
        if trial % 2:
            predicted[predicted == C - 1] = 0  # a class never predicted
        if trial % 3 == 0:
            truth[truth == 1] = 0  # a class absent from the truth
        check_against_hand([f"c{i}" for i in range(C)], truth.tolist(), predicted.tolist())


def test_format_and_to_dict_are_as_before():
    report = Report.of(CLASSES, TRUTH, PREDICTED, loss=0.6931)
    assert report.format() == FORMATTED
    d = report.to_dict()
    assert list(d) == ["examples", "accuracy", "macro_f1", "loss", "majority_baseline", "classes", "per_class",
                       "confusion"]
    assert d["examples"] == 10 and d["accuracy"] == 0.5 and d["majority_baseline"] == 0.4 and d["loss"] == 0.6931
    assert d["per_class"]["pos"] == {"precision": 0.6, "recall": 0.75, "f1": pytest.approx(2 / 3), "support": 4}
    assert d["per_class"]["spam"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert d["confusion"] == [[2, 0, 1, 1], [1, 0, 1, 0], [1, 0, 3, 0], [0, 0, 0, 0]]
    assert all(type(v) is float for c in d["per_class"].values() for k, v in c.items() if k != "support")


def test_an_empty_report_scores_zero():
    report = Report.of(["a", "b"], [], [])
    assert report.count == 0 and report.accuracy == 0.0 and report.macro_f1 == 0.0 and report.majority == 0.0
    assert report.f1.tolist() == [0.0, 0.0] and report.confusion.shape == (2, 2)
    assert "accuracy 0.0000 (0 of 0)" in report.format()
