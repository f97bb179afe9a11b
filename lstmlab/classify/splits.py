"""Stratified splits of labelled examples: held-out parts drawn by share, and k folds.

Two splitters; a run's config.json names the one it used (data.split_version), and
its parts are recomputed from that whenever the run re-reads its data:

    1   lstmlab's own (stratified_split, stratified_folds): each class shared out
        by rounding its own count. Runs saved before split_version existed used it,
        and keep it, so their test sets stay what they were.
    2   scikit-learn's (sklearn_split, sklearn_folds): train_test_split(stratify=...)
        and StratifiedKFold(shuffle=True). New runs use it.

Each function takes the classes of the examples (an int array) and returns sorted
index arrays (data order kept).
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from typing import Any, Sequence

import numpy as np

from ..errors import LstmlabError

# The largest random_state scikit-learn takes; bigger seeds go through NumPy's SeedSequence.
MAX_SKLEARN_SEED = 2**32 - 1


# ---------------------------------------------------------------------------
# Version 1: lstmlab's own
# ---------------------------------------------------------------------------


def stratified_split(labels: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Indices of len(fractions) held-out parts and the rest (last), each class
    shared out in the same proportions; each part sorted (data order kept)."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(len(fractions) + 1)]
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[rng.permutation(len(members))]
        n, start = len(members), 0
        for k, fraction in enumerate(fractions):
            # Every class gives each held-out part at least one example when it
            # can spare one and still keep one for training.
            take = int(round(n * fraction))
            if fraction > 0 and take == 0 and n - start > 1:
                take = 1
            take = min(take, max(n - start - 1, 0))
            parts[k].extend(members[start:start + take].tolist())
            start += take
        parts[-1].extend(members[start:].tolist())
    return [np.array(sorted(p), dtype=np.int64) for p in parts]


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """k disjoint parts covering every index, each class dealt evenly over them."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(folds)]
    offset = 0
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[rng.permutation(len(members))]
        for j, index in enumerate(members.tolist()):
            parts[(j + offset) % folds].append(index)
        offset += len(members)  # the next class starts where this one stopped, so fold sizes stay even
    return [np.array(sorted(p), dtype=np.int64) for p in parts]


# ---------------------------------------------------------------------------
# Version 2: scikit-learn's
# ---------------------------------------------------------------------------


def sklearn_seed(seed: int) -> Any:
    """scikit-learn's random_state for `seed`: the seed itself where scikit-learn takes it
    (below 2**32), so plain scikit-learn calls give the same parts; a bigger seed (the
    config allows any size) seeds a RandomState through NumPy's SeedSequence."""
    if 0 <= seed <= MAX_SKLEARN_SEED:
        return int(seed)
    return np.random.RandomState(np.random.MT19937(seed))


def held_out_size(fraction: float, n: int) -> int:
    """How many of n examples a share holds out: ceil(fraction * n), as scikit-learn counts
    a float test_size (rounded first, so 0.07 * 100 is 7, not 8)."""
    return int(math.ceil(round(fraction * n, 9))) if fraction > 0 else 0


def sklearn_split(labels: np.ndarray, fractions: tuple[float, ...], seed: int,
                  flags: Sequence[str] = ()) -> list[np.ndarray]:
    """Indices of len(fractions) held-out parts and the rest (last), like stratified_split,
    drawn in turn with scikit-learn's train_test_split(stratify=..., random_state=seed):
    part k holds ceil(fractions[k] * len(labels)) examples, drawn from what the parts
    before it left. A class with a single example left cannot be shared out (scikit-learn
    refuses it): that example stays for training, as splitter 1 keeps it. `flags` name the
    options behind the fractions (--val-fraction ...) for error messages."""
    from sklearn.model_selection import train_test_split  # here: scikit-learn takes a second to import

    labels = np.asarray(labels)
    n = len(labels)
    rest = np.arange(n, dtype=np.int64)
    parts: list[np.ndarray] = []
    for k, fraction in enumerate(fractions):
        size = held_out_size(fraction, n)
        counts = Counter(labels[rest].tolist())
        single = np.isin(labels[rest], [label for label, m in counts.items() if m < 2])
        kept, pool = rest[single], rest[~single]
        if size == 0 or not len(pool):
            parts.append(np.zeros(0, dtype=np.int64))
            continue
        classes = len(np.unique(labels[pool]))
        flag = f"{flags[k]} {fraction:g}" if k < len(flags) else f"a held-out share of {fraction:g}"
        if size < classes:
            raise LstmlabError(f"{flag} holds out {size} of {n} examples, fewer than their {classes} classes, so "
                               f"the part cannot be stratified; raise it to at least {classes / n:.3g}")
        if len(pool) - size < classes:
            raise LstmlabError(f"{flag} leaves {max(len(pool) - size, 0)} of {n} examples to split further, fewer "
                               f"than their {classes} classes; lower the held-out shares or give more examples")
        train, held = train_test_split(pool, test_size=size, stratify=labels[pool], random_state=sklearn_seed(seed))
        parts.append(np.sort(held).astype(np.int64))
        rest = np.sort(np.concatenate([kept, train])).astype(np.int64)
    return parts + [rest]


def sklearn_folds(labels: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """k disjoint parts covering every index: the test indices of scikit-learn's
    StratifiedKFold(folds, shuffle=True, random_state=seed). A class with fewer examples
    than folds is missing from some folds (scikit-learn's warning about it is not shown)."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(labels)
    largest = max(Counter(labels.tolist()).values(), default=0)
    if folds > largest:
        raise LstmlabError(f"--folds {folds} needs a class with at least {folds} examples to split; the largest "
                           f"has {largest} ({len(labels)} examples in all): give fewer folds")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=sklearn_seed(seed))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        return [np.sort(test).astype(np.int64) for _, test in splitter.split(np.zeros((len(labels), 1)), labels)]
