"""A classifier started from a language model (--init-from LM_RUN, ULMFiT): the encoder's weights,
chunked reading, discriminative rates, gradual unfreezing and the slanted triangular rate."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

import lstmlab
import lstmlab.classify as classify
from lstmlab.cells import CELLS
from lstmlab.classify.config import ClassifierConfig, TransferConfig
from lstmlab.classify.model import SequenceClassifier, collate
from lstmlab.config import TrainConfig
from lstmlab.errors import LstmlabError
from lstmlab.tokenizers import PAD_ID
from lstmlab.trainer import SLANTED_RATIO, learning_rate

from tests.helpers import shared_file

IMDB = "sentiment/sentiment_labelled_sentences/imdb_labelled.txt"
QUIET = dict(log=lambda line: None, show_progress=False)
LM = dict(hidden_sizes=(24, 16), embed_dim=12, batch_size=8, seq_len=16)


@pytest.fixture(scope="module")
def word_lm(tmp_path_factory):
    """A tiny two-layer word language model on the first 150,000 characters of tiny_shakespeare."""
    folder = tmp_path_factory.mktemp("lm")
    text = folder / "text.txt"
    text.write_text(shared_file("text/tiny_shakespeare.txt").read_text(encoding="utf-8")[:150_000], encoding="utf-8")
    lstmlab.train(str(text), folder / "run", level="word", max_steps=4, **LM, **QUIET)
    return folder / "run"


def test_the_encoder_starts_as_the_language_model_for_the_words_both_know(word_lm, tmp_path):
    lines = []
    # A rate so small that Adam moves no weight by a float32 step: the best checkpoint is the start.
    clf = classify.train(str(shared_file(IMDB)), tmp_path / "clf", init_from=str(word_lm), max_steps=1, lr=1e-12,
                         eval_every=1, baseline=False, log=lines.append, show_progress=False)
    lm, mine = load_file(str(word_lm / "model.safetensors")), load_file(str(tmp_path / "clf" / "model.safetensors"))
    lm_symbols = json.loads((word_lm / "tokenizer.json").read_text(encoding="utf-8"))["symbols"]
    symbols = clf.tokenizer.symbols
    n = len(lm_symbols)
    assert symbols[:n] == lm_symbols and len(symbols) > n  # the review words it lacked were added
    torch.testing.assert_close(mine["embedding.weight"][1:n], lm["embedding.weight"][1:n], rtol=0, atol=1e-9)
    assert mine["embedding.weight"][PAD_ID].abs().max() == 0
    torch.testing.assert_close(mine["embedding.weight"][n:], lm["embedding.weight"].mean(0).expand(len(symbols) - n, -1),
                               rtol=0, atol=1e-6)
    for name, tensor in lm.items():
        if name.startswith("rnn.layers."):
            layer, rest = name.removeprefix("rnn.layers.").split(".", 1)
            torch.testing.assert_close(mine[f"layers.{layer}.0.{rest}"], tensor, rtol=0, atol=1e-9)
    config = json.loads((tmp_path / "clf" / "config.json").read_text(encoding="utf-8"))
    assert config["transfer"]["init_from"] == str(word_lm.resolve())
    assert config["model"]["bidirectional"] is False and config["model"]["pooling"] == "concat"
    assert config["model"]["hidden_sizes"] == [24, 16] and config["train"]["schedule"] == "slanted"
    line = next(line for line in lines if line.startswith("encoder from"))
    assert f"its {n:,} symbols and {len(symbols) - n:,} new ones" in line and "already knew" in line
    assert clf.predict(["a wonderful film"])[0] in ("0", "1")  # predict works as for any classifier


@pytest.mark.parametrize("cell", list(CELLS))
def test_reading_in_chunks_gives_the_outputs_of_one_pass(cell):
    torch.manual_seed(0)
    whole = SequenceClassifier(ClassifierConfig(vocab_size=40, classes=("a", "b"), cell=cell, hidden_sizes=(10, 8),
                                                embed_dim=6, bidirectional=False, pooling="concat", head_hidden=5))
    chunked = SequenceClassifier(ClassifierConfig(vocab_size=40, classes=("a", "b"), cell=cell, hidden_sizes=(10, 8),
                                                  embed_dim=6, bidirectional=False, pooling="concat", head_hidden=5,
                                                  chunk_length=7))
    chunked.load_state_dict(whole.state_dict())
    rng = torch.Generator().manual_seed(1)
    texts = [torch.randint(2, 40, (n,), generator=rng).numpy() for n in (30, 5, 17, 1, 22)]  # mixed lengths
    ids, lengths = collate(texts)
    whole.eval(), chunked.eval()
    with torch.no_grad():
        torch.testing.assert_close(chunked.sequence(ids, lengths), whole.sequence(ids, lengths), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(chunked(ids, lengths), whole(ids, lengths), rtol=1e-5, atol=1e-6)


def test_chunks_cut_the_gradient_at_their_boundary():
    torch.manual_seed(0)
    model = SequenceClassifier(ClassifierConfig(vocab_size=30, classes=("a", "b"), hidden_sizes=(8,), embed_dim=4,
                                                bidirectional=False, pooling="last", dropout=0.0, word_dropout=0.0,
                                                chunk_length=5))
    ids, lengths = collate([torch.arange(2, 14).numpy()])
    embedded = []

    def keep(module, args, out):
        out.retain_grad()
        embedded.append(out)

    model.embedding.register_forward_hook(keep)
    model(ids, lengths)[0, 0].backward()
    grad = embedded[0].grad[0].abs().sum(-1)
    assert (grad[10:] > 0).all() and (grad[:10] == 0).all()  # only the last chunk (steps 10, 11) is reached


def test_discriminative_rates_and_gradual_unfreezing_train_the_head_first(word_lm, tmp_path):
    steps_per_epoch = math.ceil(800 / 32)  # 1,000 sentences, 10% validation, 10% test
    clf = classify.train(str(shared_file(IMDB)), tmp_path / "clf", init_from=str(word_lm), max_steps=steps_per_epoch,
                         unfreeze_epochs=1, eval_every=steps_per_epoch, ema_decay=0.0, baseline=False, **QUIET)
    lm, mine = load_file(str(word_lm / "model.safetensors")), load_file(str(tmp_path / "clf" / "model.safetensors"))
    # One epoch is the first stage: only the head trained, the encoder is still the language model's.
    for name, tensor in lm.items():
        if name.startswith("rnn.layers."):
            layer, rest = name.removeprefix("rnn.layers.").split(".", 1)
            torch.testing.assert_close(mine[f"layers.{layer}.0.{rest}"], tensor, rtol=0, atol=0)
    torch.manual_seed(0)
    fresh = SequenceClassifier(clf.model.config)
    assert not torch.equal(mine["head.weight"], fresh.state_dict()["head.weight"])
    task_groups = clf_groups(clf, steps_per_epoch)
    assert [g.lr_factor for g in task_groups] == pytest.approx([1, 1 / 2.6, 1 / 2.6 ** 2, 1 / 2.6 ** 3])
    assert [g.trainable_from for g in task_groups] == [0, 25, 50, 75]


def test_a_frozen_embedding_stays_the_language_models_through_every_stage(word_lm, tmp_path):
    lines = []
    steps_per_epoch = math.ceil(800 / 32)
    classify.train(str(shared_file(IMDB)), tmp_path / "clf", init_from=str(word_lm), freeze_embeddings=True,
                   unfreeze_epochs=0.2, max_steps=steps_per_epoch, eval_every=steps_per_epoch, baseline=False,
                   log=lines.append, show_progress=False)
    lm = load_file(str(word_lm / "model.safetensors"))
    last = load_file(str(tmp_path / "clf" / "checkpoint.safetensors"))  # the weights after the last step
    n = lm["embedding.weight"].shape[0]
    # Every stage has come (a fifth of an epoch each); the embedding was never among them, the layers were.
    torch.testing.assert_close(last["model.embedding.weight"][1:n], lm["embedding.weight"][1:n], rtol=0, atol=0)
    assert not torch.equal(last["model.layers.0.0.weight_hh_l0"], lm["rnn.layers.0.weight_hh_l0"])
    assert any("embeddings 12 (frozen)" in line for line in lines)


def clf_groups(clf, steps_per_epoch):
    from lstmlab.classify.task import ClassificationTask, Encoded

    import numpy as np

    empty = Encoded([np.array([2])] * (steps_per_epoch * 32), np.zeros(steps_per_epoch * 32, dtype=np.int64))
    task = ClassificationTask(empty, empty, TrainConfig(batch_size=32), ["0", "1"],
                              transfer=TransferConfig(layer_lr_decay=2.6, unfreeze_epochs=1))
    return task.parameter_groups(clf.model)


def test_the_slanted_triangular_rate_rises_for_a_tenth_then_falls():
    cfg = TrainConfig(lr=0.01, schedule="slanted", warmup_steps=0)
    rates = [learning_rate(cfg, step, 1000, 1.0) for step in range(1000)]
    assert rates[0] == pytest.approx(0.01 / SLANTED_RATIO)
    assert max(rates) == pytest.approx(0.01) and rates.index(max(rates)) == 100
    assert rates[999] == pytest.approx(0.01 / SLANTED_RATIO, rel=0.05)
    assert all(a <= b for a, b in zip(rates[:100], rates[1:101])) and all(a >= b for a, b in zip(rates[100:], rates[101:]))


def test_bad_transfer_settings_get_one_line_naming_the_fix(word_lm, tmp_path):
    data = str(shared_file(IMDB))
    cases = [
        (dict(init_from=str(word_lm), tokenizer="char"), "word-level language model"),
        (dict(init_from=str(word_lm), bidirectional=True), "drop --bidirectional"),
        (dict(init_from=str(word_lm), hidden_sizes=(64,)), "drop --hidden-sizes"),
        (dict(lm_finetune=2.0), "add --init-from LM_RUN"),
        (dict(chunk_length=50), "add --no-bidirectional"),
        (dict(init_from=str(tmp_path / "missing")), "no such run folder"),
    ]
    for i, (settings, message) in enumerate(cases):
        with pytest.raises(LstmlabError, match=message):
            classify.train(data, tmp_path / f"bad{i}", max_steps=1, baseline=False, **settings, **QUIET)
    classify.train(data, tmp_path / "plain", max_steps=1, hidden_sizes=(8,), embed_dim=8, embeddings="none",
                   baseline=False, **QUIET)
    out = subprocess.run([sys.executable, "-m", "lstmlab", "classify", "train", data, "--out", str(tmp_path / "c"),
                          "--init-from", str(tmp_path / "plain"), "--steps", "1"], capture_output=True, text=True)
    assert out.returncode != 0 and "Traceback" not in out.stderr and out.stderr.strip().count("\n") == 0
    assert "is a classifier run; it needs a language model" in out.stderr


def test_lm_finetune_trains_the_language_model_on_the_training_texts_only_then_classifies(word_lm, tmp_path):
    from lstmlab.classify.config import LabelledDataConfig
    from lstmlab.classify.train import prepare_split

    lines = []
    classify.train(str(shared_file(IMDB)), tmp_path / "clf", init_from=str(word_lm), lm_finetune=0.05, max_steps=1,
                   lr=1e-12, eval_every=1, baseline=False, log=lines.append, show_progress=False)
    plan = next(line for line in lines if line.startswith("plan:"))
    assert "800 training texts" in plan and "never the validation or test texts" in plan
    lm_run = tmp_path / "clf" / "lm"
    assert json.loads((lm_run / "config.json").read_text(encoding="utf-8"))["init_from"] == str(word_lm.resolve())
    corpus = (tmp_path / "clf" / "lm-text.txt").read_text(encoding="utf-8")
    split, _ = prepare_split(LabelledDataConfig(source=str(shared_file(IMDB))))
    assert set(corpus.strip().split("\n\n")) == {text.strip() for text in split.train.texts}
    lm, mine = load_file(str(lm_run / "model.safetensors")), load_file(str(tmp_path / "clf" / "model.safetensors"))
    torch.testing.assert_close(mine["layers.1.0.weight_hh_l0"], lm["rnn.layers.1.weight_hh_l0"], rtol=0, atol=1e-9)
    # The classifier resumes from its own folder; the language model's stage is a run of its own.
    classify.train(out=tmp_path / "clf", resume=True, max_steps=1, baseline=False, **QUIET)
    lstmlab.train(out=lm_run, resume=True, max_steps=1, **QUIET)


def test_runs_saved_by_older_versions_start_a_classifier_or_are_refused_in_one_line(tmp_path):
    import shutil
    from pathlib import Path

    legacy = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_runs"
    for name in ("word_lm", "char_lm", "classifier"):
        shutil.copytree(legacy / name, tmp_path / name)
    data = str(shared_file(IMDB))
    words = classify.train(data, tmp_path / "from-words", init_from=str(tmp_path / "word_lm"), max_steps=2,
                           baseline=False, **QUIET)
    assert words.model.config.hidden_sizes == (16,) and words.predict(["fine"])[0] in ("0", "1")
    chars = classify.train(data, tmp_path / "from-chars", init_from=str(tmp_path / "char_lm"), max_steps=2,
                           baseline=False, **QUIET)
    assert chars.config.data.tokenizer == "char" and chars.tokenizer.symbols[:2] == ["<pad>", "<unk>"]
    # A character model's unknown symbol (its row 0) is the classifier's <unk> (id 1); its characters follow.
    lm, mine = load_file(str(tmp_path / "char_lm" / "model.safetensors")), load_file(str(tmp_path / "from-chars" / "model.safetensors"))
    lm_chars = json.loads((tmp_path / "char_lm" / "vocab.json").read_text(encoding="utf-8"))["symbols"]
    assert chars.tokenizer.symbols[2:len(lm_chars) + 1] == lm_chars[1:]
    with pytest.raises(LstmlabError, match="is a classifier run; it needs a language model"):
        classify.train(data, tmp_path / "bad", init_from=str(tmp_path / "classifier"), max_steps=1, baseline=False,
                       **QUIET)
    assert lm["embedding.weight"].shape[0] == len(lm_chars) and mine["embedding.weight"].shape[0] >= len(lm_chars) + 1


def test_the_batch_normalised_head_takes_a_batch_of_one_and_trains_with_the_head():
    torch.manual_seed(0)
    model = SequenceClassifier(ClassifierConfig(vocab_size=30, classes=("a", "b"), hidden_sizes=(8,), embed_dim=4,
                                                bidirectional=False, pooling="concat", head_hidden=6, head_norm=True))
    one = collate([torch.arange(2, 9).numpy()])
    batch = collate([torch.arange(2, 9).numpy(), torch.arange(3, 7).numpy(), torch.arange(5, 20).numpy()])
    model.train()
    model(*batch).sum().backward()  # a batch: normalised by its own statistics, which it updates
    assert model.pooled_norm.num_batches_tracked == 1 and model.pooled_norm.running_mean.abs().sum() > 0
    assert torch.isfinite(model(*one)).all()  # a batch of one reads the running statistics
    assert model.pooled_norm.num_batches_tracked == 1
    head = {id(p) for p in model.layer_groups()[0]}
    assert {id(p) for p in (*model.pooled_norm.parameters(), *model.hidden_norm.parameters())} <= head
