"""Model shapes, parameter counts, stateful generation and sampling filters."""

import numpy as np
import pytest
import torch

from lstmlab.config import CELLS

from lstmlab.lm.config import ModelConfig
from lstmlab.errors import LstmlabError
from lstmlab.lm.generation import NUMPY_MAX_BATCH_ON_CPU, numpy_steps_faster, sample_next
from lstmlab.lm.model import RecurrentLM


@pytest.mark.parametrize("cell, per_layer_state", [("lstm", 2), ("gru", 1), ("rnn", 1), ("peephole", 2), ("layernorm-lstm", 2)])
def test_shapes_for_each_cell(cell, per_layer_state):
    model = RecurrentLM(ModelConfig(vocab_size=30, cell=cell, hidden_sizes=(24, 16), embed_dim=8))
    ids = torch.randint(0, 30, (5, 7))  # (B, T)
    logits, state = model(ids)
    assert logits.shape == (5, 7, 30)
    assert [len(layer) for layer in state] == [per_layer_state, per_layer_state]
    assert [layer[0].shape for layer in state] == [(1, 5, 24), (1, 5, 16)]


def test_seed_000_two_layer_model_parameter_count():
    # Seed 000: Embedding(65, 64) -> LSTM(256) -> LSTM(128) -> Dense(65) has 538,369
    # parameters in Keras. PyTorch keeps two bias vectors per gate (b_ih and b_hh),
    # which adds 4*256 + 4*128 = 1,536.
    model = RecurrentLM(ModelConfig(vocab_size=65, hidden_sizes=(256, 128), embed_dim=64))
    assert sum(p.numel() for p in model.parameters()) == 538_369 + 4 * 256 + 4 * 128


@pytest.mark.parametrize("cell", CELLS)
def test_carried_state_equals_reading_the_whole_sequence(cell):
    """Reading a text in chunks with the state carried gives exactly the
    logits of one pass over the whole text: the basis of TBPTT and of
    one-step-per-character generation."""
    torch.manual_seed(0)
    model = RecurrentLM(ModelConfig(vocab_size=20, cell=cell, hidden_sizes=(16, 12), embed_dim=8)).eval()
    ids = torch.randint(0, 20, (3, 12))
    whole, _ = model(ids)
    first, state = model(ids[:, :5])
    pieces = [first]
    for t in range(5, 12):
        logits, state = model(ids[:, t : t + 1], state)
        pieces.append(logits)
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_greedy_generation_follows_argmax_of_the_full_forward(cell):
    """Generation's one-step fast path computes what the sequence model does."""
    torch.manual_seed(1)
    model = RecurrentLM(ModelConfig(vocab_size=15, cell=cell, hidden_sizes=(32, 24), embed_dim=8)).eval()
    prompt = torch.tensor([[3, 4, 5]])
    generated = torch.from_numpy(np.stack(list(model.generate(prompt, 10, temperature=0)), axis=1))  # (1, 10)
    seq = prompt
    for t in range(10):
        logits, _ = model(seq)
        seq = torch.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(generated.long(), seq[:, 3:])


def _perturbed_model(cell: str) -> RecurrentLM:
    """A small model with non-trivial peepholes and norms (not their zero/one starting values)."""
    torch.manual_seed(2)
    model = RecurrentLM(ModelConfig(vocab_size=15, cell=cell, hidden_sizes=(32, 24), embed_dim=8)).eval()
    with torch.no_grad():
        for p in model.rnn.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("batch", [1, 3])
def test_numpy_and_torch_steppers_write_the_same_text(cell, batch):
    """generate() steps in NumPy on a CPU at small batches and with the model's own
    layers elsewhere: a seed gives the same text either way, greedy or sampled."""
    model = _perturbed_model(cell)
    prompt = torch.randint(1, 15, (batch, 5))

    def text(stepper, **options):
        return np.stack(list(model.generate(prompt, 40, stepper=stepper, suppress=(0,), **options)), axis=1)

    for options in (dict(temperature=0), dict(temperature=0.8, seed=7),
                    dict(temperature=1.3, top_k=4, top_p=0.9, seed=1)):
        np.testing.assert_array_equal(text("numpy", **options), text("torch", **options), err_msg=str(options))
    empty = torch.zeros(batch, 0, dtype=torch.long)  # an empty prompt: both start from the all-zero state
    assert np.array_equal(np.stack(list(model.generate(empty, 20, temperature=0, stepper="numpy"))),
                          np.stack(list(model.generate(empty, 20, temperature=0, stepper="torch"))))


def test_the_stepper_follows_the_device_and_the_batch_size():
    cpu, gpu = torch.device("cpu"), torch.device("cuda", 0)
    assert numpy_steps_faster(cpu, 1) and not numpy_steps_faster(cpu, NUMPY_MAX_BATCH_ON_CPU + 1)
    assert not numpy_steps_faster(gpu, 1) and not numpy_steps_faster(torch.device("mps"), 1)
    model = _perturbed_model("lstm")
    with pytest.raises(LstmlabError, match="stepper"):
        next(model.generate(torch.zeros(1, 0, dtype=torch.long), 5, stepper="jax"))


def test_generate_suppresses_ids_and_batches_samples():
    model = RecurrentLM(ModelConfig(vocab_size=6, hidden_sizes=(8,), embed_dim=4))
    with torch.no_grad():
        model.head.bias[0] = 100.0  # the model "wants" id 0 above everything
    out = np.stack(list(model.generate(torch.zeros(4, 0, dtype=torch.long), 50, suppress=(0,), seed=0)), axis=1)
    assert out.shape == (4, 50) and not (out == 0).any()


def test_top_k_and_top_p_keep_only_the_likely_symbols():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]], dtype=np.float32))
    rng = np.random.default_rng(0)
    top_k = {int(sample_next(logits, 1.0, top_k=2, rng=rng)[0]) for _ in range(300)}
    assert top_k == {0, 1}
    top_p = {int(sample_next(logits, 1.0, top_p=0.7, rng=rng)[0]) for _ in range(300)}
    assert top_p == {0, 1}  # 0.5 alone < 0.7, 0.5 + 0.3 covers it
    assert int(sample_next(logits, 0.0)[0]) == 0
    assert {int(sample_next(logits, 1.0, top_p=0.01, rng=rng)[0]) for _ in range(50)} == {0}


def test_sampling_follows_the_probabilities():
    probs = np.array([0.6, 0.3, 0.1, 0.0])
    with np.errstate(divide="ignore"):
        logits = np.log(np.tile(probs, (20_000, 1)))
    ids = sample_next(logits, 1.0, rng=np.random.default_rng(1))  # 20,000 streams at once
    freq = np.bincount(ids, minlength=4) / len(ids)
    assert np.allclose(freq, probs, atol=0.015) and freq[3] == 0


def test_tied_embeddings_share_one_matrix():
    model = RecurrentLM(ModelConfig(vocab_size=10, hidden_sizes=(16,), embed_dim=16, tie_embeddings=True))
    assert model.head.weight is model.embedding.weight
    with pytest.raises(LstmlabError, match="--embed-dim 16"):
        ModelConfig(vocab_size=10, hidden_sizes=(16,), embed_dim=8, tie_embeddings=True)


def test_lstm_forget_gate_starts_open():
    model = RecurrentLM(ModelConfig(vocab_size=10, hidden_sizes=(8,), embed_dim=4))
    layer = model.rnn.layers[0]
    total_bias = layer.bias_ih_l0 + layer.bias_hh_l0  # gate order i, f, g, o
    assert torch.all(total_bias[8:16] == 1.0)
