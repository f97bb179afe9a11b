"""The classical baseline printed beside every classifier: TF-IDF + logistic regression.

Word unigrams and bigrams (the classifier's own tokens, so both read the same
words), sublinear term frequencies, and an L2-regularised logistic regression
whose strength C is picked on the validation set. If the recurrent network
does not beat this, its extra cost buys nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .metrics import Report

C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0)


@dataclass(frozen=True)
class BaselineResult:
    report: Report  # on the test (or validation) set
    C: float
    val_accuracy: float
    seconds: float


def tfidf_logistic_regression(tokenize: Callable[[str], list[str]], train_texts, train_y, val_texts, val_y,
                              test_texts, test_y, classes) -> BaselineResult:
    """Fit on the training set, pick C by validation accuracy, score the test set."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    start = time.monotonic()
    vectorizer = TfidfVectorizer(analyzer=lambda text: _ngrams(tokenize(text)), sublinear_tf=True)
    x_train = vectorizer.fit_transform(train_texts)
    x_val = vectorizer.transform(val_texts)
    best = None
    for C in C_GRID:
        model = LogisticRegression(C=C, max_iter=2000)
        model.fit(x_train, np.asarray(train_y))
        accuracy = float((model.predict(x_val) == np.asarray(val_y)).mean())
        if best is None or accuracy > best[0]:
            best = (accuracy, C, model)
    val_accuracy, C, model = best
    probs = model.predict_proba(vectorizer.transform(test_texts))
    full = np.zeros((probs.shape[0], len(classes)))
    full[:, model.classes_] = probs
    test_y = np.asarray(test_y)
    loss = float(-np.log(np.clip(full[np.arange(len(test_y)), test_y], 1e-12, None)).mean())
    report = Report.of(classes, test_y, full.argmax(1), loss)
    return BaselineResult(report, C, val_accuracy, time.monotonic() - start)


def _ngrams(tokens: list[str]) -> list[str]:
    return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]
