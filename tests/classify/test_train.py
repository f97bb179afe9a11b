"""Training, saving, loading and using a classifier, through the API and `lstmlab classify`, on small real slices."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import lstmlab.classify as classify
from lstmlab.checkpoint import BEST, LAST

from tests.helpers import shared_file, validation_rows

IMDB = "sentiment/sentiment_labelled_sentences/imdb_labelled.txt"
TWEETS = "sentiment/twitter_airline/Tweets.csv"
SMALL = dict(hidden_sizes=(32,), embed_dim=32)
SMALL_FLAGS = ["--hidden", "32", "--embed-dim", "32", "--no-progress"]
RUN_FILES = ("config.json", "tokenizer.json", BEST, LAST, "metrics.jsonl", "training.png", "report.json", "confusion.png")


@pytest.fixture(scope="module")
def imdb_run(tmp_path_factory) -> tuple[Path, classify.Classifier, list[str]]:
    """A small classifier trained for 8 epochs on UCI's 1,000 IMDB sentences (a few seconds)."""
    run = tmp_path_factory.mktemp("runs") / "imdb"
    lines: list[str] = []
    clf = classify.train(str(shared_file(IMDB)), run, epochs=8, show_progress=False, log=lines.append, **SMALL)
    return run, clf, lines


@pytest.fixture(scope="module")
def tweets_slice(tmp_path_factory) -> Path:
    """The header and first 400 tweets of Tweets.csv (all about Virgin America)."""
    with open(shared_file(TWEETS), encoding="utf-8", newline="") as fh:
        rows = [row for _, row in zip(range(401), csv.reader(fh))]
    path = tmp_path_factory.mktemp("tweets") / "tweets.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_a_short_training_run_beats_chance_and_the_baseline_is_reported(imdb_run):
    run, clf, lines = imdb_run
    for name in RUN_FILES:
        assert (run / name).is_file(), name
    report = json.loads((run / "report.json").read_text())
    assert report["examples"] == {"train": 800, "validation": 100, "test": 100}
    assert report["classifier"]["accuracy"] >= 0.65, report["classifier"]  # chance: 0.5
    assert report["baseline"]["model"] == "tfidf-logistic-regression" and report["baseline"]["accuracy"] > 0.6
    text = "\n".join(lines)
    for expected in ("macro-F1", "confusion matrix", "baseline: TF-IDF", "precision  recall", "max length"):
        assert expected in text, expected
    metrics = validation_rows(run)
    assert {"val_loss", "val_accuracy", "val_macro_f1"} <= set(metrics[-1])
    assert set(clf.predict(["A wonderful, moving film.", "Awful. A total waste of time."])) <= {"0", "1"}


def test_save_then_load_gives_identical_predictions(imdb_run, tmp_path):
    run, clf, _ = imdb_run
    texts = ["I loved every minute of it.", "The plot made no sense at all.", "", "meh " * 200]
    probs = clf.predict_proba(texts)
    assert probs.shape == (4, 2) and np.allclose(probs.sum(1), 1)
    moved = tmp_path / "moved"
    shutil.copytree(run, moved)
    again = classify.load(moved)
    assert np.array_equal(again.predict_proba(texts), probs)
    assert again.classes == ["0", "1"] and again.predict(texts) == clf.predict(texts)
    # The model owns predict_proba: the same numbers from ids.
    ids = again.encode(texts[:1])
    direct = again.model.predict_proba(torch.from_numpy(ids[0])[None], torch.tensor([len(ids[0])]))
    assert np.allclose(direct.double().numpy(), probs[:1], atol=1e-6)


def test_predict_prints_label_probability_text_or_json_lines(cli, imdb_run, tmp_path, monkeypatch):
    run, clf, _ = imdb_run
    code, out, err = cli("classify", "predict", run, "Great acting.", "Bad\tscript,\nbad film.")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    label, probability, text = lines[1].split("\t")
    assert label in ("0", "1") and 0.5 <= float(probability) <= 1 and text == "Bad script, bad film."
    code, out, _ = cli("classify", "predict", run, "Great acting.", "--json")
    record = json.loads(out)
    assert record["text"] == "Great acting." and set(record["probabilities"]) == {"0", "1"}
    assert record["probability"] == max(record["probabilities"].values())
    assert pytest.approx(sum(record["probabilities"].values()), abs=1e-5) == 1
    lines_file = tmp_path / "texts.txt"
    lines_file.write_text("Great acting.\n\nTerrible.\n")
    code, out, _ = cli("classify", "predict", run, "--file", lines_file)
    assert code == 0 and [line.split("\t")[2] for line in out.splitlines()] == ["Great acting.", "Terrible."]
    monkeypatch.setattr(sys, "stdin", io.StringIO("Terrible.\nGreat acting.\n"))
    code, out, _ = cli("classify", "predict", run)
    assert code == 0 and [line.split("\t")[2] for line in out.splitlines()] == ["Terrible.", "Great acting."]


def test_evaluate_prints_scores_and_draws_the_confusion_matrix(cli, imdb_run, tmp_path):
    run, _, _ = imdb_run
    code, out, err = cli("classify", "evaluate", run)  # the run's own test set
    assert code == 0, err
    assert "100 examples" in out and "macro-F1" in out and "confusion matrix" in out
    assert (run / "confusion-evaluate.png").is_file()
    test_accuracy = json.loads((run / "report.json").read_text())["classifier"]["accuracy"]
    assert f"accuracy {test_accuracy:.4f}" in out
    png = tmp_path / "matrix.png"
    code, out, _ = cli("classify", "evaluate", run, shared_file(IMDB), "--json", "--png", png)
    scores = json.loads(out)
    assert code == 0 and scores["examples"] == 1000 and png.is_file()
    assert np.array(scores["confusion"]).sum() == 1000


def test_train_command_on_tweets_positive_vs_rest_and_resume(cli, tweets_slice, tmp_path):
    run = tmp_path / "airline"
    code, out, err = cli("classify", "train", tweets_slice, "--text-column", "text", "--label-column", "airline_sentiment",
                         "--positive-vs-rest", "positive", "--out", run, "--steps", "12", "--eval-every", "6",
                         *SMALL_FLAGS)
    assert code == 0, err
    for name in RUN_FILES:
        assert (run / name).is_file(), name
    for expected in ("not positive", "baseline: TF-IDF", "confusion matrix", "classify predict"):
        assert expected in out, expected
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["positive_vs_rest"] == "positive" and config["model"]["classes"] == ["not positive", "positive"]
    code, out, err = cli("classify", "train", "--resume", run, "--steps", "6", "--no-baseline", "--no-progress")
    assert code == 0, err
    assert "resuming" in out and json.loads((run / "report.json").read_text())["training"]["steps"] == 18
    code, _, err = cli("classify", "train", tweets_slice, "--out", run, "--text-column", "text", "--label-column", "airline")
    assert code == 2 and "already holds" in err


def test_bad_data_gives_one_line_errors_before_training(cli, tweets_slice, tmp_path):
    cases = [
        (["--text-column", "text", "--label-column", "airline"], "at least two classes"),
        (["--text-column", "text", "--label-column", "sentiment"], "its columns are: tweet_id"),
        (["--text-column", "text", "--label-column", "negativereason_gold"], "is empty in every row"),
        (["--text-column", "text", "--label-column", "airline_sentiment", "--positive-vs-rest", "happy"],
         "its labels are: negative, neutral, positive"),
        (["--text-column", "text", "--label-column", "airline_sentiment", "--pooling", "min"], "invalid choice"),
    ]
    for flags, message in cases:
        code, out, err = cli("classify", "train", tweets_slice, "--out", tmp_path / "never", *flags)
        assert code == 2 and message in err and err.count("\n") == 1, (flags, err)
        assert not (tmp_path / "never" / BEST).exists()


def test_frozen_pretrained_embeddings_stay_as_loaded(tmp_path, tweets_slice):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("2 4\nthanks 0.5 0.5 0.5 0.5\ndelayed -0.5 0.25 0 1\n")
    lines: list[str] = []
    clf = classify.train(str(tweets_slice), tmp_path / "frozen", text_column="text", label_column="airline_sentiment",
                         embeddings=str(vectors), freeze_embeddings=True, max_steps=4, hidden_sizes=(16,),
                         baseline=False, show_progress=False, log=lines.append)
    assert any("found vectors for 2 of" in line and "frozen" in line for line in lines)
    weight = clf.model.embedding.weight
    row = clf.tokenizer.encode("delayed")[0]
    assert weight.shape[1] == 4 and weight[row].tolist() == [-0.5, 0.25, 0, 1]
