"""`--input scaled-id`: seeds 003 and 004 feed each character as one number, its index among
the n sorted characters divided by n. A native run and an imported seed-004 Keras model are
the same kind of model (ModelConfig input "scaled-id", one fixed (V, 1) table), and both
predict what the Keras maths, written out in numpy here, predicts."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import lstmlab
from lstmlab.cli import main
from lstmlab.lm.config import ModelConfig, RunConfig
from lstmlab.lm.model import RecurrentLM, scaled_id_table
from lstmlab.serve.engine import Engine, Outbox, Sampling
from lstmlab.serve.events import DoneEvent, EngineEvent, TextEvent

from tests.helpers import shared_file
from tests.lm.keras_files import write_keras2_h5

# Small enough for a second or two of training on 2 shared cores (no --embed-dim: the input is fixed).
TINY_SCALED = ["--input", "scaled-id", "--hidden", "32", "--batch-size", "8", "--seq-len", "32", "--steps", "6",
               "--eval-every", "3", "--eval-chars", "2000", "--no-progress"]


@pytest.fixture(scope="module")
def macbeth(tmp_path_factory) -> Path:
    """20,000 characters from the play of Macbeth (seed 004's text), past the Gutenberg header so
    that training (which cuts headers) and import-keras (which reads the raw text) see the same
    characters; lowercased as the seed does; read_text turns the file's CRLF into the newlines
    Python's open() gave the seed."""
    text = shared_file("text/macbeth.txt").read_text(encoding="utf-8")[30_000:50_000].lower()
    path = tmp_path_factory.mktemp("macbeth") / "macbeth.txt"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def scaled_run(macbeth, tmp_path_factory) -> tuple[Path, str]:
    """A run trained through the CLI with --input scaled-id, and what training printed."""
    run = tmp_path_factory.mktemp("runs") / "scaled"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["train", str(macbeth), "--out", str(run), *TINY_SCALED])
    assert code == 0, err.getvalue()
    return run, out.getvalue() + err.getvalue()


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("vocab_size", [2, 43, 66, 300])
def test_the_first_layer_reads_index_over_n(vocab_size):
    n = vocab_size - 1
    table = scaled_id_table(vocab_size)
    assert table.shape == (vocab_size, 1) and table.dtype == torch.float32
    # lstmlab id i is the seeds' index k = i - 1; the seeds divide in float64 (X / float(n))
    # and Keras reads float32: bit for bit the same numbers.
    seeds = (np.arange(n, dtype=np.float64) / float(n)).astype(np.float32)
    assert np.array_equal(table[1:, 0].numpy(), seeds)
    assert table[0, 0].item() == 1.0  # the unknown symbol: n / n, apart from every character

    config = ModelConfig(vocab_size=vocab_size, hidden_sizes=(8,), input="scaled-id")
    assert config.input_size == 1 and config.embed_dim == 0 and not config.one_hot
    model = RecurrentLM(config)
    assert torch.equal(model.embedding.weight, table)
    assert not model.embedding.weight.requires_grad  # fixed, as in the seeds: nothing to learn
    assert model.rnn.layers[0].weight_ih_l0.shape == (32, 1)


def test_config_keeps_old_runs_and_embed_dim_zero_meaning():
    # Runs saved before `input` existed: embed_dim 0 was one-hot, anything else an embedding.
    assert ModelConfig(vocab_size=10, embed_dim=0).input == "one-hot"
    assert ModelConfig(vocab_size=10, embed_dim=1).input == "embedding"
    assert ModelConfig(vocab_size=10).input == "embedding"
    # A default embed_dim (word level's 256, say) is dropped by a fixed input.
    assert ModelConfig(vocab_size=10, input="scaled-id", embed_dim=256).embed_dim == 0
    with pytest.raises(lstmlab.LstmlabError, match="--input embedding needs a positive --embed-dim"):
        ModelConfig(vocab_size=10, input="embedding", embed_dim=0)
    with pytest.raises(lstmlab.LstmlabError, match="--tie-embeddings needs a learned embedding"):
        ModelConfig(vocab_size=10, hidden_sizes=(8,), input="scaled-id", tie_embeddings=True)
    # Layer norm would turn x * w_ih into sign(x) * w_ih, normalised: one input for every character.
    with pytest.raises(lstmlab.LstmlabError, match="normalises away the one number"):
        ModelConfig(vocab_size=10, cell="layernorm-lstm", input="scaled-id")
    saved = json.loads(RunConfig.from_dict({"data": {}, "model": {"vocab_size": 10, "input": "scaled-id"},
                                            "train": {}}).to_json())
    assert saved["model"]["input"] == "scaled-id" and saved["model"]["embed_dim"] == 0


# ---------------------------------------------------------------------------
# Training and everything downstream
# ---------------------------------------------------------------------------


def test_training_says_why_and_saves_a_scaled_id_run(scaled_run, macbeth):
    run, printed = scaled_run
    note = [line for line in printed.splitlines() if line.startswith("--input scaled-id")]
    assert len(note) == 1 and "seeds 003 and 004" in note[0] and "1/n" in note[0] and "learns faster" in note[0]
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config["model"]["input"] == "scaled-id" and config["model"]["embed_dim"] == 0

    lm = lstmlab.load(run, device="cpu")
    chars = sorted(set(macbeth.read_text(encoding="utf-8")))
    assert list(lm.vocab.symbols[1:]) == chars
    table = lm.model.embedding.weight[:, 0]
    for k, ch in enumerate(chars):  # what the first layer reads for each character: its index / n
        assert table[int(lm.vocab.encode(ch)[0])].item() == np.float32(k / len(chars))


def test_cli_generate_evaluate_summary_inspect(scaled_run, macbeth, cli, tmp_path):
    run, _ = scaled_run
    code, out, err = cli("generate", run, "--prompt", "macbeth", "--length", "40", "--seed", "3")
    assert code == 0, err
    assert out.startswith("macbeth") and len(out) == len("macbeth") + 40 + 1
    code, out, err = cli("generate", run, "--length", "20", "--seed", "3", "--num-samples", "2")
    assert code == 0 and out.count("----- sample") == 2, err
    code, out, err = cli("evaluate", run, macbeth)
    assert code == 0 and "bits/char" in out, err
    code, out, err = cli("summary", run)
    assert code == 0 and "scaled_id (ScaledId)" in out and "(batch, time, 1)" in out, err
    code, out, err = cli("inspect", run, "--text", "the thane of cawdor", "--out", tmp_path / "page.html")
    assert code == 0 and (tmp_path / "page.html").is_file(), err


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "peephole"])
def test_both_steppers_fold_the_one_number_table(cell):
    """generation.py folds the (V, 1) table into the first layer's input weights: greedy text
    must follow the model's own forward pass, and both steppers must agree when sampling. The
    weights are random and large (the input ones most) so that what was read shows in the output."""
    torch.manual_seed(0)
    model = RecurrentLM(ModelConfig(vocab_size=30, cell=cell, hidden_sizes=(24, 16), input="scaled-id")).eval()
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if weight.ndim == 2 and weight.requires_grad:  # not the fixed table, nor layer-norm gains
                scale = 4.0 if weight.shape[1] == 1 else 1.5 / weight.shape[1] ** 0.5
                weight.normal_(0.0, scale)
            elif "bias" in name and "norm" not in name:
                weight.normal_(0.0, 0.5)
    prompt = torch.tensor([[3, 17, 9, 22, 1]])
    greedy = np.concatenate(list(model.generate(prompt, 20, temperature=0.0, suppress=(0,), stepper="numpy")))
    reads = model.next_logits(torch.tensor([[3], [17], [0]]))
    assert (reads[0] - reads[1]).abs().max() > 0.05 and (reads[1] - reads[2]).abs().max() > 0.05  # what was read matters
    ids = prompt
    for expected in greedy:  # re-read everything, as the seeds do
        logits = model.next_logits(ids)[0].numpy().copy()
        logits[0] = -np.inf
        assert int(logits.argmax()) == int(expected)
        ids = torch.cat([ids, torch.tensor([[int(expected)]])], dim=1)
    batch = prompt.expand(3, -1).contiguous()
    texts = {name: np.stack(list(model.generate(batch, 30, temperature=1.0, seed=5, suppress=(0,), stepper=name)))
             for name in ("numpy", "torch")}
    assert np.array_equal(texts["numpy"], texts["torch"])


def test_serve_engine_writes_what_generate_writes(scaled_run):
    lm = lstmlab.load(scaled_run[0], device="cpu")
    engine = Engine(lm, max_rows=4)

    async def run_one() -> list[EngineEvent]:
        outbox = Outbox(asyncio.get_running_loop())
        assert engine.submit("macbeth", Sampling(length=40, temperature=0.8, seed=2), outbox) is not None
        items: list[EngineEvent] = []
        while not items or not items[-1].final:
            items += await asyncio.wait_for(outbox.take(), 20)
        return items

    try:
        items = asyncio.run(run_one())
    finally:
        engine.close()
    assert isinstance(items[-1], DoneEvent), items[-1]
    text = "".join(item.text for item in items if isinstance(item, TextEvent))
    assert "macbeth" + text == lm.generate("macbeth", length=40, temperature=0.8, seed=2)


def test_mistakes_get_one_line(cli, macbeth, tmp_path):
    cases = {
        ("--level", "word"): "a word-level model needs --input embedding",
        ("--embed-dim", "16"): "drop --embed-dim 16",
        ("--tie-embeddings",): "--tie-embeddings needs a learned embedding",
    }
    for i, (extra, expected) in enumerate(cases.items()):
        code, out, err = cli("train", macbeth, "--out", tmp_path / f"run{i}", *TINY_SCALED, *extra)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        assert expected in err, err
        assert not (tmp_path / f"run{i}" / "config.json").exists()


def test_embed_dim_zero_still_means_one_hot(cli, macbeth, tmp_path):
    flags = ["--hidden", "16", "--batch-size", "8", "--seq-len", "16", "--steps", "2", "--eval-every", "2",
             "--eval-chars", "500", "--no-progress"]
    for name, extra in {"zero": ["--embed-dim", "0"], "flag": ["--input", "one-hot"]}.items():
        code, out, err = cli("train", macbeth, "--out", tmp_path / name, *flags, *extra)
        assert code == 0, err
        model = json.loads((tmp_path / name / "config.json").read_text(encoding="utf-8"))["model"]
        assert model["input"] == "one-hot" and model["embed_dim"] == 0


# ---------------------------------------------------------------------------
# Seed 004's Keras model: imported, native and numpy give the same probabilities
# ---------------------------------------------------------------------------

H = 20  # LSTM units


def keras_lstm_probs(weights: dict[str, np.ndarray], chars: list[str], text: str) -> np.ndarray:
    """Seed 004's model by hand, in float64: x_t = index / n, one Keras LSTM (gates i, f, c, o,
    x @ kernel + h @ recurrent_kernel + bias), then Dense softmax over the n characters."""
    n = len(chars)
    x = np.array([chars.index(c) for c in text], dtype=np.float64) / float(n)
    kernel, recurrent, bias = (weights[k].astype(np.float64) for k in ("kernel", "recurrent", "bias"))
    h, c = np.zeros(H), np.zeros(H)
    for value in x:
        z = value * kernel[0] + h @ recurrent + bias
        i, f, g, o = (z[j * H:(j + 1) * H] for j in range(4))
        sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
    logits = h @ weights["dense_kernel"].astype(np.float64) + weights["dense_bias"]
    e = np.exp(logits - logits.max())
    return e / e.sum()


def native_model(weights: dict[str, np.ndarray], n: int) -> RecurrentLM:
    """An lstmlab --input scaled-id model given the same weights by hand: PyTorch keeps W @ x
    (hence the transposes) and two LSTM biases; the unknown symbol's output is never chosen."""
    model = RecurrentLM(ModelConfig(vocab_size=n + 1, hidden_sizes=(H,), input="scaled-id"))
    layer = model.rnn.layers[0]
    with torch.no_grad():
        layer.weight_ih_l0.copy_(torch.from_numpy(weights["kernel"].T))
        layer.weight_hh_l0.copy_(torch.from_numpy(weights["recurrent"].T))
        layer.bias_ih_l0.copy_(torch.from_numpy(weights["bias"]))
        layer.bias_hh_l0.zero_()
        model.head.weight.zero_()
        model.head.weight[1:] = torch.from_numpy(weights["dense_kernel"].T)
        model.head.bias.fill_(-1e4)
        model.head.bias[1:] = torch.from_numpy(weights["dense_bias"])
    return model.eval()


def model_probs(model: RecurrentLM, ids: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        logits, _ = model(torch.from_numpy(ids).long()[None])
    return torch.softmax(logits[0, -1].double(), 0).numpy()


def test_an_imported_seed_004_model_is_a_native_scaled_id_model(macbeth, scaled_run, cli, tmp_path):
    text = macbeth.read_text(encoding="utf-8")
    chars = sorted(set(text))  # the seed's unique_chars
    n = len(chars)
    rng = np.random.default_rng(4)
    weights = {"kernel": rng.normal(0, 1.5, (1, 4 * H)), "recurrent": rng.normal(0, 1.2 / np.sqrt(H), (H, 4 * H)),
               "bias": rng.normal(0, 0.5, 4 * H), "dense_kernel": rng.normal(0, 1.2 / np.sqrt(H), (H, n)),
               "dense_bias": rng.normal(0, 0.5, n)}
    weights = {k: v.astype(np.float32) for k, v in weights.items()}
    path = tmp_path / "macbeth_model.h5"
    write_keras2_h5(path, [  # seed 004: LSTM over input shape (50, 1) -> Dropout -> Dense softmax
        ("LSTM", {"name": "lstm", "units": H, "batch_input_shape": [None, 50, 1], "return_sequences": False,
                  "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True},
         [weights["kernel"], weights["recurrent"], weights["bias"]]),
        ("Dropout", {"name": "dropout", "rate": 0.2}, []),
        ("Dense", {"name": "dense", "units": n, "activation": "softmax", "use_bias": True},
         [weights["dense_kernel"], weights["dense_bias"]]),
    ])
    code, out, err = cli("import-keras", path, "--vocab-from", macbeth, "--out", tmp_path / "imported")
    assert code == 0, err
    imported = lstmlab.load(tmp_path / "imported", device="cpu")
    assert list(imported.vocab.symbols[1:]) == chars

    # The same kind of model as a native --input scaled-id run: only the sizes differ.
    trained = RunConfig.load(scaled_run[0] / "config.json").model
    assert imported.config.model == dataclasses.replace(trained, vocab_size=n + 1, hidden_sizes=(H,))
    assert torch.equal(imported.model.embedding.weight, scaled_id_table(n + 1))

    native = native_model(weights, n)
    for start, stop in ((0, 1), (100, 150), (3000, 3090)):
        prefix = text[start:stop]
        ids = imported.vocab.encode(prefix)
        theirs = keras_lstm_probs(weights, chars, prefix)
        ours = model_probs(imported.model, ids)
        assert theirs.max() > 2 / n  # random weights, yet far from a flat output
        np.testing.assert_allclose(ours[1:], theirs, atol=1e-5, err_msg=f"after {prefix!r}")
        np.testing.assert_allclose(model_probs(native, ids), ours, atol=1e-6)
        assert ours[0] < 1e-6  # the unknown symbol is never predicted

    # Generation steps the imported model as the seed would re-read its window: greedy text agrees.
    prompt = text[500:550]
    expected = prompt
    for _ in range(20):
        expected += chars[int(np.argmax(keras_lstm_probs(weights, chars, expected)))]
    code, out, err = cli("generate", tmp_path / "imported", "--prompt", prompt, "--length", "20", "--temperature", "0")
    assert code == 0 and out == expected + "\n", err
