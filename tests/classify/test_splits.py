"""The two splitters (lstmlab/classify/splits.py): version 1, lstmlab's own, which runs saved
before split_version keep; version 2, scikit-learn's, which new runs use."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from lstmlab.classify.config import ClassifyRunConfig, LabelledDataConfig
from lstmlab.classify.data import Labelled, read_labelled, split_data
from lstmlab.classify.splits import sklearn_folds, sklearn_split, stratified_folds, stratified_split
from lstmlab.errors import LstmlabError

REPO = Path(__file__).resolve().parents[2]
LEGACY_CLASSIFIER = REPO / "tests" / "fixtures" / "legacy_runs" / "classifier"

# Labels and the parts the hand-written splitter gave them before scikit-learn came in
# (lstmlab/classify/data.py at commit 1558dc7): version 1 must give them bit for bit.
LABELS = np.array([int(c) for c in "01201001210230012101"])
V1_SPLIT = ([0, 2, 19], [7, 14, 16, 18], [1, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 15, 17])  # (0.1, 0.2), seed 7
V1_ONE_PART = ([1, 11, 14, 18, 19], [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 15, 16, 17])  # (0.25,), seed 3
V1_FOLDS = ([2, 3, 4, 6, 11, 14, 15], [0, 7, 9, 10, 12, 16, 18], [1, 5, 8, 13, 17, 19])  # 3 folds, seed 5


def labelled(labels) -> Labelled:
    labels = [f"class{y}" for y in labels]
    return Labelled([f"text {i}" for i in range(len(labels))], labels, "memory", where=[f"row {i}" for i in range(len(labels))])


def assert_partition(parts, n):
    joined = np.concatenate(parts)
    assert len(joined) == n and sorted(joined.tolist()) == list(range(n))  # disjoint, and cover everything
    assert all((np.diff(p) > 0).all() for p in parts)  # each sorted: data order kept


def assert_stratified(labels, part):
    """Each class's count in `part` is within 1 of its exact share of the part's size."""
    for c in np.unique(labels):
        exact = (labels == c).sum() * len(part) / len(labels)
        assert abs((labels[part] == c).sum() - exact) <= 1, (c, (labels[part] == c).sum(), exact)


# -- version 1: old runs keep their parts -------------------------------------------------------


def test_version_1_gives_the_recorded_parts_bit_for_bit():
    assert [p.tolist() for p in stratified_split(LABELS, (0.1, 0.2), 7)] == list(V1_SPLIT)
    assert [p.tolist() for p in stratified_split(LABELS, (0.25,), 3)] == list(V1_ONE_PART)
    assert [p.tolist() for p in stratified_folds(LABELS, 3, 5)] == list(V1_FOLDS)


def test_a_config_without_split_version_loads_as_1_and_splits_as_before(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # the legacy run names its data relative to the repository root
    raw = json.loads((LEGACY_CLASSIFIER / "config.json").read_text())
    assert "split_version" not in raw["data"]
    config = ClassifyRunConfig.load(LEGACY_CLASSIFIER / "config.json")
    assert config.data.split_version == 1
    data = read_labelled(config.data.source, config.data)
    split = split_data(data, config.data)
    classes = sorted(set(data.labels))
    y = np.array([classes.index(label) for label in data.labels])
    val, test, train = stratified_split(y, (config.data.val_fraction, config.data.test_fraction), config.data.split_seed)
    assert split.val.texts == [data.texts[i] for i in val] and split.test.texts == [data.texts[i] for i in test]
    assert split.train.texts == [data.texts[i] for i in train]
    # The same on a k-fold, from a copy of the config with folds set.
    raw["data"]["folds"], raw["data"]["fold"] = 3, 1
    (tmp_path / "config.json").write_text(json.dumps(raw))
    cfg = ClassifyRunConfig.load(tmp_path / "config.json").data
    assert cfg.split_version == 1
    assert split_data(data, cfg).test.texts == [data.texts[i] for i in stratified_folds(y, 3, cfg.split_seed)[1]]


def test_new_configs_save_split_version_2_and_it_round_trips(tmp_path):
    assert LabelledDataConfig().split_version == 2
    saved = json.loads((LEGACY_CLASSIFIER / "config.json").read_text())
    saved["data"]["split_version"] = 2
    (tmp_path / "config.json").write_text(json.dumps(saved))
    config = ClassifyRunConfig.load(tmp_path / "config.json")
    assert config.data.split_version == 2
    assert json.loads(config.to_json())["data"]["split_version"] == 2
    for bad in (0, 3, "2"):
        with pytest.raises(LstmlabError, match="split_version must be one of 1, 2"):
            LabelledDataConfig(split_version=bad)


# -- version 2: scikit-learn's -------------------------------------------------------------------


def test_version_2_parts_are_stratified_disjoint_complete_and_repeatable():
    rng = np.random.default_rng(0)
    for trial in range(30):
        labels = rng.choice(4, size=int(rng.integers(60, 400)), p=[0.55, 0.25, 0.15, 0.05])
        fractions = ((0.1, 0.1), (0.2, 0.15), (0.05,), (0.3,))[trial % 4]
        parts = sklearn_split(labels, fractions, seed=trial)
        assert len(parts) == len(fractions) + 1
        assert_partition(parts, len(labels))
        for part, fraction in zip(parts, fractions):
            assert len(part) == int(np.ceil(round(fraction * len(labels), 9)))
            assert_stratified(labels, part)
        again = sklearn_split(labels, fractions, seed=trial)
        assert all((a == b).all() for a, b in zip(parts, again))
    other = sklearn_split(labels, (0.2, 0.2), seed=1)
    assert any((a != b).any() for a, b in zip(sklearn_split(labels, (0.2, 0.2), seed=2), other))


def test_version_2_is_scikit_learns_split_and_takes_seeds_of_any_size():
    from sklearn.model_selection import train_test_split

    labels = np.array([0] * 70 + [1] * 30)
    val, train = sklearn_split(labels, (0.2,), seed=4)
    rest, held = train_test_split(np.arange(100), test_size=0.2, stratify=labels, random_state=4)
    assert val.tolist() == sorted(held.tolist()) and train.tolist() == sorted(rest.tolist())
    huge = 10**12  # the config takes it; scikit-learn's random_state stops at 2**32 - 1
    parts = sklearn_split(labels, (0.1, 0.1), seed=huge)
    assert_partition(parts, 100)
    assert all((a == b).all() for a, b in zip(parts, sklearn_split(labels, (0.1, 0.1), seed=huge)))
    assert_partition(sklearn_folds(labels, 5, seed=huge), 100)


def test_version_2_folds_partition_the_pool_and_are_stratified():
    labels = np.array([0] * 90 + [1] * 10)
    folds = sklearn_folds(labels, 5, seed=0)
    assert_partition(folds, 100)
    assert [len(f) for f in folds] == [20] * 5 and all(labels[f].sum() == 2 for f in folds)
    assert all((a == b).all() for a, b in zip(folds, sklearn_folds(labels, 5, seed=0)))
    rng = np.random.default_rng(1)
    labels = rng.choice(3, size=157, p=[0.6, 0.3, 0.1])
    folds = sklearn_folds(labels, 7, seed=3)
    assert_partition(folds, 157)
    for fold in folds:
        assert_stratified(labels, fold)


def test_version_2_corner_cases():
    # A class with one example cannot be stratified (scikit-learn refuses it): it stays for training.
    labels = np.array([0] * 30 + [1] * 20 + [2])
    val, test, train = sklearn_split(labels, (0.1, 0.1), seed=0)
    assert 50 in train and len(val) == len(test) == 6
    assert_partition([val, test, train], 51)
    # Classes of two: each example can go to one held-out part, never both out of training.
    labels = np.array([0] * 40 + [1, 1] + [2, 2])
    for seed in range(20):
        val, test, train = sklearn_split(labels, (0.1, 0.1), seed=seed)
        assert_partition([val, test, train], 44)
        assert {1, 2} <= set(labels[train].tolist())
    # A share of 0 holds out nothing; so does a pool of single examples.
    val, test, train = sklearn_split(np.array([0] * 10 + [1] * 10), (0.2, 0.0), seed=0)
    assert len(val) == 4 and len(test) == 0 and len(train) == 16
    assert [len(p) for p in sklearn_split(np.array([0, 1, 2]), (0.5,), seed=0)] == [0, 3]
    # A share too small to hold one example of each class, or too big to leave one: a one-line error naming the flag.
    with pytest.raises(LstmlabError, match=r"^--val-fraction 0.01 holds out 1 of 100 examples, fewer than their 3 "
                                           r"classes.*raise it to at least 0.03$"):
        sklearn_split(np.array([0] * 50 + [1] * 30 + [2] * 20), (0.01, 0.1), seed=0, flags=("--val-fraction", "--test-fraction"))
    with pytest.raises(LstmlabError, match="--test-fraction 0.45 leaves 1 of 10 examples.*lower the held-out shares"):
        sklearn_split(np.array([0] * 5 + [1] * 5), (0.4, 0.45), seed=0, flags=("--val-fraction", "--test-fraction"))
    with pytest.raises(LstmlabError, match="--folds 6 needs a class with at least 6 examples to split; the largest has 5 .*give fewer folds"):
        sklearn_folds(np.array([0] * 5 + [1] * 3), 6, seed=0)
    # Fewer examples of a class than folds: some folds lack it, without scikit-learn's warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        folds = sklearn_folds(np.array([0] * 20 + [1] * 3), 5, seed=0)
    assert_partition(folds, 23)


def test_split_data_dispatches_on_split_version():
    labels = [0] * 60 + [1] * 30 + [2] * 10
    data = labelled(labels)
    y = np.array(labels)
    for version, splitter in ((1, stratified_split), (2, sklearn_split)):
        cfg = LabelledDataConfig(source="memory", split_seed=5, split_version=version)
        split = split_data(data, cfg)
        val, test, train = splitter(y, (0.1, 0.1), 5)
        assert split.val.texts == [f"text {i}" for i in val] and split.test.texts == [f"text {i}" for i in test]
        assert split.train.texts == [f"text {i}" for i in train]
        cfg = LabelledDataConfig(source="memory", split_seed=5, split_version=version, folds=4, fold=3)
        folds = (stratified_folds if version == 1 else sklearn_folds)(y, 4, 5)
        assert split_data(data, cfg).test.texts == [f"text {i}" for i in folds[3]]
    with pytest.raises(LstmlabError, match="^--val-fraction 0.01 holds out 1 of 100 examples"):
        split_data(data, LabelledDataConfig(source="memory", val_fraction=0.01))
