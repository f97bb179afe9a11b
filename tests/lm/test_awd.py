"""AWD-LSTM's regularisers (weight drop, word dropout, locked dropout, AR/TAR, variable
back-propagation length) and the adaptive softmax, each checked against its definition."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import lstmlab
from lstmlab.cells import CELLS
from lstmlab.config import TrainConfig
from lstmlab.errors import LstmlabError
from lstmlab.lm.config import ADAPTIVE_FROM, ModelConfig, ObjectiveConfig, default_cutoffs
from lstmlab.lm.data import StreamBatches, VariableStreamBatches
from lstmlab.lm.generation import FoldedAdaptiveHead, folded_head
from lstmlab.lm.model import RecurrentLM
from lstmlab.lm.summary import format_summary
from lstmlab.lm.task import score_tokens
from lstmlab.recurrence import drop, dropout_mask
from lstmlab.stack import RecurrentStack

from tests.helpers import write_wikitext_slice

QUIET = dict(log=lambda line: None, show_progress=False)


# -- weight drop -------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", list(CELLS))
def test_weight_drop_runs_the_layer_on_its_weight_times_one_mask_per_call(cell):
    torch.manual_seed(0)
    stack = RecurrentStack(cell, 6, (10,), dropout=0.0, weight_drop=0.5)
    layer = stack.layers[0]
    name = layer.recurrent_weight_name
    x = torch.randn(3, 7, 6)
    torch.manual_seed(11)
    out, _ = stack(x)
    # The definition: the same layer, its hidden-to-hidden weight times a mask of 0 and 1/(1-p)
    # drawn once for the call, every row and every step sharing it.
    torch.manual_seed(11)
    weight = getattr(layer, name)
    mask = dropout_mask(weight.shape[0], weight.shape[1], 0.5, weight.device)
    assert 0.3 < (mask == 0).float().mean() < 0.7
    with torch.no_grad():
        kept = weight.detach().clone()
        weight.mul_(mask)
        expected, _ = layer(x)
        weight.copy_(kept)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    # The weight itself is untouched, and the gradient reaches only its kept entries.
    assert torch.equal(getattr(layer, name), kept)
    out.square().sum().backward()
    grad = getattr(layer, name).grad
    assert grad[mask == 0].abs().max() == 0 and grad[mask != 0].abs().max() > 0


def test_weight_drop_acts_in_training_only_and_keeps_the_fused_kernel():
    torch.manual_seed(0)
    stack = RecurrentStack("lstm", 6, (10, 10), dropout=0.0, weight_drop=0.6)
    plain = RecurrentStack("lstm", 6, (10, 10), dropout=0.0)
    plain.load_state_dict(stack.state_dict())
    x = torch.randn(2, 5, 6)
    stack.eval(), plain.eval()
    torch.testing.assert_close(stack(x)[0], plain(x)[0], rtol=0, atol=0)
    stack.train()
    assert not torch.allclose(stack(x)[0], plain(x)[0])
    with torch.profiler.profile() as prof:
        stack(x)
    names = {event.name for event in prof.events()}
    assert "aten::lstm" in names  # nn.LSTM's fused kernel, not a Python loop over steps


# -- word dropout and locked dropout ---------------------------------------------------------------


def small_model(**settings) -> RecurrentLM:
    torch.manual_seed(0)
    return RecurrentLM(ModelConfig(vocab_size=50, hidden_sizes=(16,), embed_dim=8, **settings))


def test_word_dropout_drops_every_occurrence_of_a_word_and_scales_the_rest():
    model = small_model(word_dropout=0.4).train()
    ids = torch.randint(0, 50, (8, 40))
    embedded = model.embed(ids)
    plain = model.embedding(ids)
    dropped_words, kept_words = set(), set()
    for word in ids.unique().tolist():
        where = ids == word
        rows = embedded[where]
        if torch.all(rows == 0):
            dropped_words.add(word)
        else:
            torch.testing.assert_close(rows, plain[where] / 0.6)
            kept_words.add(word)
    assert dropped_words and kept_words
    model.eval()
    torch.testing.assert_close(model.embed(ids), plain)


def test_locked_dropout_keeps_one_mask_per_sequence_and_plain_dropout_does_not():
    ones = torch.ones(4, 30, 12)
    locked = drop(ones, 0.5, training=True, locked=True)
    zeros = locked == 0
    assert torch.equal(zeros, zeros[:, :1].expand_as(zeros))  # the same at every step
    assert not torch.equal(zeros[0], zeros[1])  # but its own for each row
    assert set(locked.unique().tolist()) == {0.0, 2.0}
    fresh = drop(ones, 0.5, training=True, locked=False) == 0
    assert not torch.equal(fresh, fresh[:, :1].expand_as(fresh))
    assert torch.equal(drop(ones, 0.5, training=False, locked=True), ones)
    # In the model: the embedding's output and the top layer's dropped output.
    model = small_model(embed_dropout=0.5, dropout=0.5, locked_dropout=True).train()
    ids = torch.randint(2, 50, (3, 25))
    zeros = model.embed(ids) == 0
    assert zeros.any() and torch.equal(zeros, zeros[:, :1].expand_as(zeros))
    hidden = torch.ones(3, 25, 16)
    zeros = model.drop_output(hidden) == 0
    assert zeros.any() and torch.equal(zeros, zeros[:, :1].expand_as(zeros))


# -- AR and TAR ----------------------------------------------------------------------------------------


def test_ar_and_tar_add_their_definitions_to_the_loss_and_the_cross_entropy_is_reported(tmp_path):
    from lstmlab.lm.task import LanguageModelTask

    corpus = lstmlab.prepare("builtin:shakespeare", tmp_path / "data", report=None)
    objective = ObjectiveConfig(seq_len=20, ar=2.0, tar=1.0)
    task = LanguageModelTask(corpus, objective, TrainConfig(batch_size=4))
    model = RecurrentLM(ModelConfig(vocab_size=len(corpus.vocab), hidden_sizes=(16, 16), embed_dim=8)).train()
    x, y = task.batch(0, 0)
    (total, reported), _ = task.training_loss(model, (x, y), None)
    hidden, _ = model.features(x)
    cross_entropy = F.cross_entropy(model.output(hidden).reshape(-1, len(corpus.vocab)), y.reshape(-1))
    ar = 2.0 * hidden.pow(2).mean()
    tar = 1.0 * (hidden[:, 1:] - hidden[:, :-1]).pow(2).mean()
    torch.testing.assert_close(reported, cross_entropy)
    torch.testing.assert_close(total, cross_entropy + ar + tar)
    assert not reported.requires_grad and total.requires_grad
    # Off, the loss is the cross entropy alone, as before.
    plain = LanguageModelTask(corpus, ObjectiveConfig(seq_len=20), TrainConfig(batch_size=4))
    loss, _ = plain.training_loss(model, (x, y), None)
    torch.testing.assert_close(loss, cross_entropy)


# -- variable back-propagation length -----------------------------------------------------------------


def test_variable_chunks_cover_each_stream_once_an_epoch_and_move_between_epochs():
    tokens = np.arange(50_000)
    fixed = StreamBatches(tokens, 8, 35, seed=3)
    varied = VariableStreamBatches(tokens, 8, 35, seed=3)
    assert varied.steps_per_epoch == fixed.steps_per_epoch
    cuts = varied.cuts(0)
    lengths = np.diff(cuts)
    assert cuts[0] == 0 and cuts[-1] == fixed.steps_per_epoch * 35 and lengths.min() >= 1
    assert lengths.std() > 3 and abs(lengths.mean() - 35) < 1e-9
    assert np.array_equal(cuts, varied.cuts(0)) and not np.array_equal(cuts, varied.cuts(1))
    # Row b of each batch continues row b of the one before, and the targets are the inputs moved by one.
    previous = None
    for index in range(varied.steps_per_epoch):
        x, y = varied.batch(0, index)
        assert x.shape == (8, lengths[index]) and torch.equal(x[:, 1:], y[:, :-1])
        if previous is not None:
            assert torch.equal(previous[:, -1], x[:, 0])
        previous = y
    # An epoch reads the same positions as the fixed layout (the same offset), cut elsewhere.
    first, last = varied.batch(0, 0), varied.batch(0, varied.steps_per_epoch - 1)
    assert torch.equal(first[0][:, 0], fixed.batch(0, 0)[0][:, 0])
    assert torch.equal(last[1][:, -1], fixed.batch(0, fixed.steps_per_epoch - 1)[1][:, -1])


def test_variable_length_scales_the_learning_rate_by_length(tmp_path):
    from lstmlab.lm.task import LanguageModelTask

    corpus = lstmlab.prepare("builtin:shakespeare", tmp_path / "data", report=None)
    task = LanguageModelTask(corpus, ObjectiveConfig(seq_len=40, variable_seq_len=True), TrainConfig(batch_size=4))
    factors = [task.lr_factor(task.batch(0, i)) for i in range(50)]
    assert all(f == task.batch(0, i)[0].shape[1] / 40 for i, f in enumerate(factors))
    assert min(factors) < 0.9 and max(factors) > 1.05
    assert LanguageModelTask(corpus, ObjectiveConfig(seq_len=40), TrainConfig(batch_size=4)).lr_factor(
        task.batch(0, 0)) == 1.0


# -- adaptive softmax ---------------------------------------------------------------------------------


def adaptive_model(vocab: int = 300, cutoffs=(20, 100), **settings) -> RecurrentLM:
    torch.manual_seed(0)
    return RecurrentLM(ModelConfig(vocab_size=vocab, hidden_sizes=(24,), embed_dim=12, adaptive_softmax=cutoffs,
                                   **settings))


def test_the_adaptive_softmax_scores_exactly_and_trains_on_the_same_distribution():
    model = adaptive_model().eval()
    ids = torch.randint(0, 300, (3, 9))
    targets = torch.randint(0, 300, (3, 9))
    scores, _ = model(ids)
    # A normalised distribution over the whole vocabulary: what log_prob computes.
    torch.testing.assert_close(torch.logsumexp(scores, -1), torch.zeros(3, 9), atol=1e-5, rtol=0)
    hidden, _ = model.features(ids)
    torch.testing.assert_close(scores, model.head.log_prob(hidden.reshape(-1, 24)).reshape(3, 9, 300))
    # The training loss (only the targets' clusters computed) is the same number.
    loss, _ = model.loss(hidden, targets)
    torch.testing.assert_close(loss, F.nll_loss(scores.reshape(-1, 300), targets.reshape(-1)))
    # And scoring a text sums the same log-probabilities.
    tokens = np.random.default_rng(0).integers(0, 300, 200)
    nll, count = score_tokens(model, tokens, seq_len=50)
    full, _ = model(torch.from_numpy(tokens[:-1]).long()[None])
    expected = -full[0].gather(1, torch.from_numpy(tokens[1:]).long()[:, None]).sum().item()
    assert count == 199 and math.isclose(nll, expected, rel_tol=1e-5)


def test_the_adaptive_head_in_numpy_matches_the_model_with_temperature_and_suppressed_ids():
    model = adaptive_model().eval()
    hidden = torch.randn(4, 24)
    head = folded_head(model.head, 0.5, suppress=[0, 1])
    assert isinstance(head, FoldedAdaptiveHead) and head.hidden_size == 24
    expected = model.output(hidden).detach().numpy() / 0.5
    got = head.logits(hidden.numpy())
    assert np.all(np.isneginf(got[:, :2]))
    np.testing.assert_allclose(got[:, 2:], expected[:, 2:], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(head.torch_logits(hidden), got, rtol=1e-6)


def test_both_steppers_generate_the_same_text_through_the_adaptive_softmax():
    model = adaptive_model(cell="gru").eval()
    prompt = torch.randint(2, 300, (2, 5))
    greedy = {name: np.stack(list(model.generate(prompt, 12, temperature=0, stepper=name))) for name in ("numpy", "torch")}
    np.testing.assert_array_equal(greedy["numpy"], greedy["torch"])
    # Greedy generation is the argmax of the model's own forward pass, step after step.
    ids = prompt.clone()
    for step in range(12):
        scores, _ = model(ids)
        ids = torch.cat([ids, scores[:, -1].argmax(-1, keepdim=True)], dim=1)
    np.testing.assert_array_equal(ids[:, 5:].numpy().T, greedy["numpy"])
    sampled = {name: np.stack(list(model.generate(prompt, 30, temperature=0.9, seed=4, stepper=name)))
               for name in ("numpy", "torch")}
    np.testing.assert_array_equal(sampled["numpy"], sampled["torch"])


def test_default_cutoffs_follow_the_vocabulary_size_and_the_tie():
    assert default_cutoffs(ADAPTIVE_FROM - 1, tied=False) == ()
    assert default_cutoffs(33_279, tied=True) == ()
    assert default_cutoffs(33_279, tied=False) == (2_000, 10_000)
    assert default_cutoffs(267_737, tied=False) == (2_000, 10_000, 50_000, 200_000)
    assert default_cutoffs(10_001, tied=False) == (2_000,)


def test_summary_names_the_adaptive_softmax_and_counts_its_parameters():
    config = ModelConfig(vocab_size=300, hidden_sizes=(24,), embed_dim=12, adaptive_softmax=(20, 100))
    text = format_summary(config)
    total = sum(p.numel() for p in RecurrentLM(config).parameters())
    assert "AdaptiveSoftmax" in text and "cutoffs 20,100" in text
    assert f"PyTorch holds {total:,}" in text or f"Total params: {total:,}" in text


# -- a word-level run end to end ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wikitext_slice(tmp_path_factory):
    return write_wikitext_slice(tmp_path_factory.mktemp("wikitext-awd"), 1500, 100, 50)


def test_a_word_run_with_every_regulariser_learns_resumes_and_keeps_its_settings(wikitext_slice, tmp_path):
    run = tmp_path / "awd"
    settings = dict(level="word", hidden_sizes=(32, 32), embed_dim=16, tie_embeddings=False, batch_size=8,
                    seq_len=20, weight_drop=0.3, word_dropout=0.1, locked_dropout=True, dropout=0.2, ar=2.0,
                    tar=1.0, variable_seq_len=True, adaptive_softmax=(500, 2000), eval_every=20,
                    optimizer="adam", lr=3e-3, seed=1)
    lines = []
    lm = lstmlab.train(str(wikitext_slice), run, max_steps=40, log=lines.append, show_progress=False, **settings)
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["weight_drop"] == 0.3 and config["model"]["locked_dropout"] is True
    assert config["model"]["word_dropout"] == 0.1 and config["model"]["adaptive_softmax"] == [500, 2000]
    assert config["objective"]["ar"] == 2.0 and config["objective"]["variable_seq_len"] is True
    model_line = next(line for line in lines if line.startswith("model:"))
    for needle in ("adaptive softmax (cutoffs 500,2000)", "weight drop 0.3", "word dropout 0.1", "AR 2", "TAR 1",
                   "variable back-propagation length"):
        assert needle in model_line, model_line
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    vals = [r["val_ppl"] for r in rows if "val_ppl" in r]
    assert vals[-1] < vals[0] * 0.7  # it learns, under every regulariser at once
    # The reported training loss is the cross entropy: near the validation loss, not above it by the penalties.
    assert all(r["train_loss"] < 12 for r in rows if r.get("train_loss"))
    lm2 = lstmlab.train(out=run, resume=True, max_steps=10, **QUIET)
    assert lm2.config.model == lm.config.model and lm2.config.objective == lm.config.objective
    text = lm2.generate("the", length=8, seed=0)
    assert len(text.split()) >= 5
    assert lm2.evaluate_file(wikitext_slice / "test.txt").perplexity > 1


def test_adaptive_softmax_auto_follows_the_vocabulary_and_the_tie_and_is_saved_as_cutoffs(wikitext_slice, tmp_path):
    small = dict(level="word", hidden_sizes=(16,), embed_dim=16, batch_size=4, seq_len=10, max_steps=1, **QUIET)
    auto = lstmlab.train(str(wikitext_slice), tmp_path / "a", adaptive_softmax="auto", **small)
    vocab = auto.config.model.vocab_size
    assert vocab >= ADAPTIVE_FROM and auto.config.model.adaptive_softmax == default_cutoffs(vocab, False) != ()
    assert json.loads((tmp_path / "a" / "config.json").read_text())["model"]["adaptive_softmax"] == list(
        default_cutoffs(vocab, False))
    tied = lstmlab.train(str(wikitext_slice), tmp_path / "b", adaptive_softmax="auto", tie_embeddings=True, **small)
    assert tied.config.model.adaptive_softmax == ()
    # Not asked for, a word run keeps a full softmax (the awd preset asks for auto).
    plain = lstmlab.train(str(wikitext_slice), tmp_path / "c", **small)
    assert plain.config.model.adaptive_softmax == () and isinstance(plain.model.head, nn.Linear)
    assert ModelConfig(vocab_size=ADAPTIVE_FROM - 1, adaptive_softmax="auto").adaptive_softmax == ()


# -- bad input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("settings, needle", [
    (dict(weight_drop=1.0), "--weight-drop must be in [0, 1)"),
    (dict(weight_drop=-0.1), "--weight-drop must be in [0, 1)"),
    (dict(word_dropout=1.5), "--word-dropout must be in [0, 1)"),
    (dict(adaptive_softmax=(100, 20)), "increasing positive cutoffs"),
    (dict(adaptive_softmax=(20, 400)), "below the vocabulary"),
    (dict(adaptive_softmax=(20,), tie_embeddings=True, embed_dim=24), "drop --tie-embeddings"),
    (dict(adaptive_softmax="sometimes"), "auto or off"),
])
def test_bad_model_settings_name_the_fix(settings, needle):
    with pytest.raises(LstmlabError, match=None) as error:
        ModelConfig(vocab_size=300, hidden_sizes=(24,), **settings)
    assert needle in str(error.value)


@pytest.mark.parametrize("settings, needle", [
    (dict(ar=-1.0), "--ar must be >= 0"),
    (dict(tar=-0.5), "--tar must be >= 0"),
    (dict(objective="window", variable_seq_len=True), "--objective window reads fixed windows"),
])
def test_bad_objective_settings_name_the_fix(settings, needle):
    with pytest.raises(LstmlabError) as error:
        ObjectiveConfig(**settings)
    assert needle in str(error.value)


def one_line_error(result, *needles):
    code, out, err = result
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, (code, err)
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_the_cli_refuses_bad_regulariser_flags_in_one_line(cli, tmp_path, shakespeare_slice):
    tiny = ["--hidden", "16", "--embed-dim", "8", "--batch-size", "4", "--seq-len", "16", "--steps", "2"]
    one_line_error(cli("train", shakespeare_slice, "--out", tmp_path / "a", "--adaptive-softmax", "20,40", *tiny),
                   "--adaptive-softmax is for word-level", "--level word")
    one_line_error(cli("train", shakespeare_slice, "--out", tmp_path / "b", "--weight-drop", "1", *tiny),
                   "--weight-drop must be in [0, 1)")
    one_line_error(cli("train", shakespeare_slice, "--out", tmp_path / "c", "--ar", "-2", *tiny), "--ar must be >= 0")
    one_line_error(cli("train", shakespeare_slice, "--out", tmp_path / "d", "--adaptive-softmax", "x", *tiny),
                   "cutoffs like 2000,10000")
    # A run trained without a regulariser is not resumed with one: its settings are its own.
    code, _, err = cli("train", shakespeare_slice, "--out", tmp_path / "run", *tiny)
    assert code == 0, err
    saved = (tmp_path / "run" / "config.json").read_text()
    one_line_error(cli("train", "--resume", tmp_path / "run", "--weight-drop", "0.5", "--steps", "2"),
                   "only the budget", "weight_drop", "Start a new run with --out")
    assert (tmp_path / "run" / "config.json").read_text() == saved


# -- averaged SGD (NT-ASGD) ---------------------------------------------------------------------------------


def test_the_non_monotone_trigger_fires_when_validation_misses_the_older_best():
    from lstmlab.averaging import nt_asgd_triggered

    assert not nt_asgd_triggered([5.0, 4.0, 3.0], 1)
    assert nt_asgd_triggered([5.0, 4.0, 4.5], 1)  # 4.5 is worse than 4.0, the best before the last one
    assert not nt_asgd_triggered([5.0, 4.0, 4.5], 2)  # ... but better than 5.0, the best before the last two
    assert not nt_asgd_triggered([5.0, 6.0], 2)  # too few validations yet


def test_the_uniform_average_is_the_mean_of_every_step_since_its_start():
    from lstmlab.averaging import WeightAverage

    model = nn.Linear(3, 2)
    average = WeightAverage(model, 0.0, start=7)
    values = [1.0, 2.0, 6.0]
    for step, value in zip(range(7, 10), values):
        with torch.no_grad():
            model.weight.fill_(value)
        average.update(model, step)
    torch.testing.assert_close(average.average.weight, torch.full((2, 3), 3.0))


def test_nt_asgd_switches_once_validation_stalls_and_resumes_with_its_average(tmp_path, shakespeare_slice):
    from lstmlab import checkpoint

    run = tmp_path / "asgd"
    lines = []
    # A rate far too high for Adam: validation soon gets worse, which is what the trigger waits for.
    lstmlab.train(str(shakespeare_slice), run, max_steps=40, eval_every=4, nt_asgd=1, lr=0.5, hidden_sizes=(16,),
                  embed_dim=8, batch_size=4, seq_len=16, patience=0, log=lines.append, show_progress=False)
    switch = [line for line in lines if "NT-ASGD" in line]
    assert len(switch) == 1, lines
    progress = checkpoint.read_last_progress(run)
    start = progress["average_from"]
    assert start > 0 and len(progress["val_losses"]) >= 2
    tensors, _ = checkpoint.read_file(run / checkpoint.LAST)
    assert any(k.startswith("average.") for k in tensors)
    # Resumed, it keeps averaging from the same step and does not switch again.
    more = []
    lstmlab.train(out=run, resume=True, max_steps=8, log=more.append, show_progress=False)
    assert not any("NT-ASGD" in line for line in more)
    assert checkpoint.read_last_progress(run)["average_from"] == start
    assert json.loads((run / "config.json").read_text())["train"]["nt_asgd"] == 1


def test_the_cli_turns_a_preset_s_switches_off_and_summary_shows_the_adaptive_head(cli):
    from lstmlab.lm.presets import flag_text

    assert flag_text("tie_embeddings", False) == "--no-tie-embeddings"
    assert flag_text("locked_dropout", True) == "--locked-dropout"
    code, out, err = cli("summary", "--vocab-size", "100", "--hidden", "16", "--embed-dim", "16",
                         "--no-tie-embeddings", "--adaptive-softmax", "20,50")
    assert code == 0, err
    assert "AdaptiveSoftmax" in out and "cutoffs 20,50" in out
    code, out, err = cli("summary", "--vocab-size", "100", "--hidden", "16", "--embed-dim", "16",
                         "--adaptive-softmax", "off")
    assert code == 0 and "AdaptiveSoftmax" not in out and "Dense" in out
