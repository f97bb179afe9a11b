"""`lstmlab summary`: the seeds' Keras parameter counts, exactly."""

import re

import pytest

from lstmlab.lm.config import ModelConfig
from lstmlab.lm.model import RecurrentLM
from lstmlab.lm.summary import count_layers

from tests.helpers import TINY


def _row(out: str, name: str) -> list[str]:
    line = next(line for line in out.splitlines() if line.startswith(name + " "))
    return re.findall(r"\d[\d,]*(?=\s|$)", line.split(")", 2)[-1])


def _number(text: str) -> int:
    return int(text.replace(",", ""))


@pytest.mark.parametrize("flags, layer, keras_count", [
    # Seed 001: LSTM(50) reading 300-dimensional word2vec vectors: 4 * (300*50 + 50*50 + 50).
    (["--vocab-size", "5000", "--embed-dim", "300", "--hidden", "50"], "lstm_1", 70_200),
    # Seed 001: LSTM(128) reading one-hot vectors over 50 symbols: 4 * (50*128 + 128*128 + 128).
    (["--vocab-size", "50", "--embed-dim", "0", "--hidden", "128"], "lstm_1", 91_648),
])
def test_seed_001_layer_counts(cli, flags, layer, keras_count):
    code, out, err = cli("summary", *flags)
    assert code == 0, err
    keras, torch_count = map(_number, _row(out, layer))
    assert keras == keras_count
    assert torch_count == keras_count + 4 * int(flags[-1])  # torch's second bias vector


def test_seed_000_two_layer_total(cli):
    # Embedding(65, 64) -> LSTM(256) -> LSTM(128) -> Dense(65):
    # 4,160 + 328,704 + 197,120 + 8,385 = 538,369 in Keras; torch adds 4*256 + 4*128 biases.
    code, out, _ = cli("summary", "--vocab-size", "65", "--embed-dim", "64", "--hidden", "256,128")
    assert code == 0
    assert "Total params: 538,369" in out
    assert "PyTorch holds 539,905" in out
    assert [_number(_row(out, name)[0]) for name in ("embedding", "lstm_1", "lstm_2", "head")] == [4_160, 328_704, 197_120, 8_385]


@pytest.mark.parametrize("cell", ["gru", "peephole", "layernorm-lstm", "rnn"])
def test_counts_equal_the_modules_parameters(cell):
    """The Keras-convention count differs from PyTorch's only by the second bias of nn.LSTM/nn.RNN."""
    config = ModelConfig(vocab_size=30, cell=cell, hidden_sizes=(16, 8), embed_dim=12)
    rows = count_layers(config)
    assert sum(r.torch_params for r in rows) == sum(p.numel() for p in RecurrentLM(config).parameters())
    extra = sum(r.torch_params - r.params for r in rows)
    assert extra == (16 + 8 if cell == "rnn" else 0)
    if cell == "peephole":  # 3 peephole vectors per layer on top of an LSTM's one-bias count
        assert rows[1].params == 4 * (12 * 16 + 16 * 16 + 16) + 3 * 16


def test_summary_of_a_trained_run(cli, shakespeare_slice, tmp_path):
    run = tmp_path / "run"
    assert cli("train", shakespeare_slice, "--out", run, "--steps", "2", *TINY)[0] == 0
    code, out, _ = cli("summary", run)
    assert code == 0 and "lstm_1 (LSTM)" in out and "(batch, time, 48)" in out


@pytest.mark.parametrize("args, fix", [
    ([], "--vocab-size"),
    (["--vocab-size", "65", "--embed-dim", "-1"], "--embed-dim"),
    (["no/such/run"], "lstmlab train"),
])
def test_summary_bad_input(cli, args, fix):
    code, out, err = cli("summary", *args)
    assert code == 2 and fix in err and len(err.strip().splitlines()) == 1
