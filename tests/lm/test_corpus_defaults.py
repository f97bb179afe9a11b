"""Defaults sized to the training text (lm/presets.py: the small-book rows of the table, choose_defaults)."""

from __future__ import annotations

import json

import pytest

from lstmlab.lm.presets import SMALL_BOOK_DEFAULTS, WORD_MODEL_DEFAULTS, WORD_TRAIN_DEFAULTS, choose_defaults

from tests.helpers import shared_file

MACBETH_TRAIN = 93_083  # characters in macbeth.txt's training part (the whole play)
SHAKESPEARE_TRAIN = 1_003_855  # tiny_shakespeare.txt's
# Tiny batches: the small book's model is two layers of 512, so only a step or two.
FAST = ["--batch-size", "4", "--seq-len", "16", "--steps", "2", "--eval-every", "2", "--eval-chars", "2000",
        "--no-progress"]


@pytest.fixture(scope="module")
def macbeth_slice(tmp_path_factory):
    """The first 40,000 characters of macbeth.txt: a small book, quick to read."""
    text = shared_file("text/macbeth.txt").read_text(encoding="utf-8")[:40_000]
    path = tmp_path_factory.mktemp("corpus") / "macbeth_slice.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_small_book_gets_two_regularised_layers_whatever_the_budget():
    small = SMALL_BOOK_DEFAULTS["char"]
    assert small == {"hidden_sizes": (512, 512), "dropout": 0.25, "lr": 5e-3}
    for budget in ({"minutes": 2}, {"minutes": 10}, {"max_steps": 500}, {"epochs": 3.0}):
        chosen, choice = choose_defaults(budget, "char", MACBETH_TRAIN)
        assert chosen == {**small, **budget}
        # The small-book row comes before the long budget's, which would pick the same.
        assert choice.picked == small and choice.preset == "medium"
        assert choice.why.startswith("a small book (93,083 training characters, under 500,000")


def test_texts_of_a_few_megabytes_keep_the_budgets_defaults():
    for settings in ({}, {"minutes": 2}, {"minutes": 0.1}, {"max_steps": 50}, {"minutes": 10, "dropout": 0.0}):
        chosen, choice = choose_defaults(settings, "char", SHAKESPEARE_TRAIN)
        assert chosen == choose_defaults(settings, "char")[0]  # the same as before the text is read
        assert "small book" not in choice.why
    # Before the text is read nothing is sized to it; once read, a small book is.
    assert choose_defaults({"minutes": 2}, "char")[0] == {"minutes": 2}
    assert choose_defaults({"minutes": 2}, "char", MACBETH_TRAIN)[1].preset == "medium"


def test_settings_given_win_and_a_budget_under_a_minute_keeps_its_own():
    for given in ({"hidden_sizes": (256,)}, {"dropout": 0.1}, {"lr": 1e-3}):
        settings = {"minutes": 2, **given}
        chosen, choice = choose_defaults(settings, "char", MACBETH_TRAIN)
        assert chosen == settings and (choice.preset, choice.picked) == ("base", {})
    chosen, choice = choose_defaults({"minutes": 0.1}, "char", MACBETH_TRAIN)
    assert chosen == choose_defaults({"minutes": 0.1}, "char", SHAKESPEARE_TRAIN)[0]
    assert choice.why == "a budget under 0.25 minutes (more and larger steps learn more in seconds)"


def test_word_level_small_books_get_their_own_and_the_others_the_word_defaults():
    words = {**WORD_MODEL_DEFAULTS, **WORD_TRAIN_DEFAULTS}
    small = SMALL_BOOK_DEFAULTS["word"]
    chosen, choice = choose_defaults({"max_steps": 10}, "word", 29_597)
    # The embedding's output is dropped at the dropout's rate (with_word_defaults).
    assert chosen == {**words, **small, "max_steps": 10, "embed_dropout": small["dropout"]} and choice.picked == small
    assert choice.why.startswith("a small book (29,597 training words, under 100,000")
    chosen, choice = choose_defaults({"max_steps": 10}, "word", 250_000)
    assert chosen == {**words, "max_steps": 10, "embed_dropout": words["dropout"]} and choice.picked == {}
    given = {name: value for name, value in small.items()}
    given = {name: (value / 2 if isinstance(value, float) else value) for name, value in given.items()}
    chosen, choice = choose_defaults(given, "word", 29_597)
    assert chosen == {**words, **given, "embed_dropout": given["dropout"]} and choice.picked == {}


def test_the_cli_sizes_a_small_book_says_so_and_saves_it(cli, macbeth_slice, tmp_path):
    run = tmp_path / "small"
    code, out, err = cli("train", macbeth_slice, "--out", run, *FAST)
    assert code == 0, err
    line = next(line for line in out.splitlines() if line.startswith("a small book"))
    assert line.endswith(": preset medium, --hidden 512,512, --dropout 0.25, --lr 0.005; give any of them, or "
                         "another --preset, to choose otherwise"), line
    assert "training characters, under 500,000" in line
    config = json.loads((run / "config.json").read_text())
    assert (config["model"]["hidden_sizes"], config["model"]["dropout"], config["train"]["lr"]) == ([512, 512], 0.25, 0.005)
    assert config["preset"] == "medium"
    assert "lstm 512x512" in out


def test_the_cli_leaves_a_big_text_and_given_settings_alone(cli, macbeth_slice, tmp_path):
    big = shared_file("text/tiny_shakespeare.txt")
    code, out, err = cli("train", big, "--out", tmp_path / "big", "--embed-dim", "8", *FAST)
    assert code == 0, err
    assert "small book" not in out
    model = json.loads((tmp_path / "big" / "config.json").read_text())["model"]
    assert (model["hidden_sizes"], model["dropout"]) == ([512], 0.0)

    code, out, err = cli("train", macbeth_slice, "--out", tmp_path / "given", "--hidden", "32", *FAST)
    assert code == 0, err
    assert "small book" not in out
    config = json.loads((tmp_path / "given" / "config.json").read_text())
    assert (config["model"]["hidden_sizes"], config["model"]["dropout"], config["train"]["lr"]) == ([32], 0.0, 0.003)


def test_the_cli_sizes_a_small_book_of_words_too(cli, macbeth_slice, tmp_path):
    run = tmp_path / "words"
    code, out, err = cli("train", macbeth_slice, "--out", run, "--level", "word", "--hidden", "32", "--embed-dim", "16",
                         *FAST)
    assert code == 0, err
    line = next(line for line in out.splitlines() if line.startswith("a small book"))
    assert "training words, under 100,000" in line and "preset heavy-dropout, --dropout 0.5; " in line
    model = json.loads((run / "config.json").read_text())["model"]
    assert all(model[name] == value for name, value in SMALL_BOOK_DEFAULTS["word"].items())
