"""--init-from RUN: a language model continued on new text, its vocabulary extended.

The weights a run starts from must be the source run's, row for row for the symbols both know,
and the mean of the source's rows for the symbols the new text adds."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest
import torch
from safetensors.torch import load_file

import lstmlab
from lstmlab.errors import LstmlabError
from lstmlab.lm.config import ModelConfig
from lstmlab.lm.transfer import grown_tensors, known_share
from lstmlab.lm.vocab import CharVocab
from lstmlab.tokenizers import WordTokenizer

from tests.helpers import shared_file, write_wikitext_slice

QUIET = dict(log=lambda line: None, show_progress=False)
# A step so small that Adam leaves every weight where it was (an update of ~1e-12 is below a
# float32's resolution at the weights' size), so the best checkpoint holds the starting weights.
FROZEN = dict(max_steps=1, lr=1e-12, warmup_steps=0, ema_decay=0.0, eval_every=1)
TINY = dict(hidden_sizes=(24,), embed_dim=12, batch_size=8, seq_len=16)


def texts(tmp_path, first: slice, second: slice):
    text = shared_file("text/tiny_shakespeare.txt").read_text(encoding="utf-8")
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(text[first], encoding="utf-8")
    b.write_text(text[second], encoding="utf-8")
    return a, b


def weights(run):
    return load_file(str(run / "model.safetensors"))


def test_the_vocabulary_grows_at_its_end_most_frequent_first():
    base = WordTokenizer(["<pad>", "<unk>", "the", "king"])
    grown, added = base.extended(Counter({"the": 9, "queen": 3, "crown": 3, "rare": 1, "<unk>": 5}), min_freq=2)
    assert grown.symbols == ["<pad>", "<unk>", "the", "king", "crown", "queen"]
    assert added == ["crown", "queen"]
    assert base.extended(Counter({"queen": 3, "crown": 4}), min_freq=1, max_size=5)[1] == ["crown"]
    assert base.extended(Counter({"queen": 3}), min_freq=1, max_size=3)[1] == []  # the run's own are never cut
    chars, new = CharVocab(("\ufffd", "a", "b")).extended(Counter({"z": 2, "c": 5, "a": 1, "y": 1}), min_count=2)
    assert chars.symbols == ("\ufffd", "a", "b", "c", "z") and new == ["c", "z"]


def test_grown_rows_start_at_the_mean_of_the_known_rows():
    config = ModelConfig(vocab_size=5, hidden_sizes=(4,), embed_dim=3)
    tensors = {"embedding.weight": torch.randn(5, 3), "head.weight": torch.randn(5, 4), "head.bias": torch.randn(5),
               "rnn.layers.0.weight_ih_l0": torch.randn(16, 3)}
    grown = grown_tensors(tensors, config, 7)
    for name in ("embedding.weight", "head.weight", "head.bias"):
        assert grown[name].shape[0] == 7
        torch.testing.assert_close(grown[name][:5], tensors[name], rtol=0, atol=0)
        torch.testing.assert_close(grown[name][5], tensors[name].mean(0))
        torch.testing.assert_close(grown[name][6], tensors[name].mean(0))
    assert grown["rnn.layers.0.weight_ih_l0"] is tensors["rnn.layers.0.weight_ih_l0"]


def test_known_share_counts_neither_added_nor_unknown_ids():
    import numpy as np

    ids = np.array([2, 3, 1, 7, 8, 2], dtype=np.uint16)  # 1 is <unk>, 7 and 8 were added (known size 5)
    assert known_share(ids, 5, unknown_id=1) == pytest.approx(3 / 6)


def test_a_word_model_continues_from_the_run_with_its_rows_and_the_new_words_at_the_mean(tmp_path):
    a_text, b_text = texts(tmp_path, slice(0, 120_000), slice(-120_000, None))
    lstmlab.train(str(a_text), tmp_path / "a", level="word", max_steps=3, **TINY, **QUIET)
    lines = []
    lm = lstmlab.train(str(b_text), tmp_path / "b", init_from=str(tmp_path / "a"), log=lines.append,
                       show_progress=False, **FROZEN)
    old_vocab = json.loads((tmp_path / "a" / "tokenizer.json").read_text(encoding="utf-8"))["symbols"]
    new_vocab = json.loads((tmp_path / "b" / "tokenizer.json").read_text(encoding="utf-8"))["symbols"]
    assert new_vocab[: len(old_vocab)] == old_vocab and len(new_vocab) > len(old_vocab)
    before, after = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert set(before) == set(after)
    n = len(old_vocab)
    for name, tensor in before.items():
        if name in ("embedding.weight", "head.weight", "head.bias"):
            torch.testing.assert_close(after[name][:n], tensor, rtol=0, atol=1e-9)
            torch.testing.assert_close(after[name][n:], tensor.mean(0).expand_as(after[name][n:]), rtol=0, atol=1e-6)
        else:
            torch.testing.assert_close(after[name], tensor, rtol=0, atol=1e-9)
    line = next(line for line in lines if line.startswith("starting from"))
    assert f"its {n:,} symbols kept, {len(new_vocab) - n:,} new words added" in line and "already knew" in line
    config = json.loads((tmp_path / "b" / "config.json").read_text(encoding="utf-8"))
    assert config["init_from"] == str((tmp_path / "a").resolve())
    assert config["model"]["hidden_sizes"] == [24] and config["model"]["embed_dim"] == 12
    assert config["data"]["max_vocab"] == 0  # no cap unless given: the run's own words are never cut
    assert lm.generate("the king", length=5, seed=1)  # the grown model loads and writes


def test_a_character_model_adds_the_new_characters(tmp_path):
    a_text, b_text = texts(tmp_path, slice(0, 60_000), slice(-60_000, None))
    b_text.write_text("\u00df\u00e9" * 50 + b_text.read_text(encoding="utf-8"), encoding="utf-8")  # in the training part
    lstmlab.train(str(a_text), tmp_path / "a", max_steps=3, **TINY, **QUIET)
    lstmlab.train(str(b_text), tmp_path / "b", init_from=str(tmp_path / "a"), val_fraction=0.01, **FROZEN, **QUIET)
    old = json.loads((tmp_path / "a" / "vocab.json").read_text(encoding="utf-8"))["symbols"]
    new = json.loads((tmp_path / "b" / "vocab.json").read_text(encoding="utf-8"))["symbols"]
    assert new[: len(old)] == old and {"\u00df", "\u00e9"} <= set(new[len(old):])
    torch.testing.assert_close(weights(tmp_path / "b")["embedding.weight"][: len(old)],
                               weights(tmp_path / "a")["embedding.weight"], rtol=0, atol=1e-9)


def test_an_adaptive_softmax_grows_its_last_cluster_and_resumes(tmp_path):
    folder = tmp_path / "wiki"
    folder.mkdir()
    write_wikitext_slice(folder, train=600, valid=60, test=10)
    lstmlab.train(str(folder), tmp_path / "a", level="word", adaptive_softmax=(50, 500), max_steps=2, **TINY, **QUIET)
    a_text, b_text = texts(tmp_path, slice(0, 10), slice(0, 80_000))
    b = lstmlab.train(str(b_text), tmp_path / "b", init_from=str(tmp_path / "a"), max_steps=2, **QUIET)
    assert b.config.data.tokenizer == "whitespace" and b.config.model.adaptive_softmax == (50, 500)
    before, after = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert after["head.tail.1.1.weight"].shape[0] > before["head.tail.1.1.weight"].shape[0]
    assert after["head.tail.0.1.weight"].shape == before["head.tail.0.1.weight"].shape
    assert b.generate("the", length=4, temperature=0, seed=0)
    resumed = lstmlab.train(out=tmp_path / "b", resume=True, max_steps=1, **QUIET)  # reopens from its own config
    assert resumed.config.init_from == b.config.init_from


def test_bad_init_from_gets_one_line_naming_the_fix(tmp_path):
    a_text, b_text = texts(tmp_path, slice(0, 40_000), slice(-40_000, None))
    lstmlab.train(str(a_text), tmp_path / "a", max_steps=1, **TINY, **QUIET)
    cases = [
        (dict(init_from=str(tmp_path / "nothing")), "no such run folder"),
        (dict(init_from=str(tmp_path / "a"), level="word"), "character-level language model"),
        (dict(init_from=str(tmp_path / "a"), hidden_sizes=(64,)), "--hidden 64 cannot change it"),
        (dict(init_from=str(tmp_path / "a"), lowercase=True), "drop --lowercase"),
    ]
    for i, (settings, message) in enumerate(cases):
        with pytest.raises(LstmlabError, match=message):
            lstmlab.train(str(b_text), tmp_path / f"bad{i}", max_steps=1, **settings, **QUIET)
    classifier = tmp_path / "classifier"
    classifier.mkdir()
    (classifier / "config.json").write_text(json.dumps({"kind": "classifier"}), encoding="utf-8")
    with pytest.raises(LstmlabError, match="is a classifier run; it needs a language model"):
        lstmlab.train(str(b_text), tmp_path / "bad-kind", init_from=str(classifier), max_steps=1, **QUIET)


def test_the_cli_flag_refuses_a_prepared_folder_in_one_line(tmp_path):
    a_text, b_text = texts(tmp_path, slice(0, 40_000), slice(-40_000, None))
    lstmlab.train(str(a_text), tmp_path / "a", max_steps=1, **TINY, **QUIET)
    lstmlab.prepare(str(b_text), tmp_path / "prepared", report=None)
    out = subprocess.run([sys.executable, "-m", "lstmlab", "train", str(tmp_path / "prepared"), "--out",
                          str(tmp_path / "b"), "--init-from", str(tmp_path / "a"), "--steps", "1"],
                         capture_output=True, text=True)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0 and "needs the raw text" in out.stderr
