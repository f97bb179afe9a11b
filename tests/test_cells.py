"""The recurrent layers of cells.py: their gate traces, the extra cells' fast
backward pass, and one-hot inputs."""

import gc
import weakref

import numpy as np
import pytest
import torch

from lstmlab.cells import CELLS, make_layer, reference_of
from lstmlab.recurrence import RecurrentProduct
from lstmlab.config import CELLS
from lstmlab.lm.config import ModelConfig
from lstmlab.lm.model import RecurrentLM

SIGMOID_GATES = {"forget", "input", "output", "reset", "update"}


def _layer_and_input(cell, seed=0, batch=3, steps=6, inputs=4, hidden=5):
    torch.manual_seed(seed)
    layer = make_layer(cell, inputs, hidden).double()
    with torch.no_grad():  # non-trivial peepholes and norms, not their zero/one starting values
        for p in layer.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(batch, steps, inputs, dtype=torch.float64)
    parts = 2 if CELLS[cell].has_cell_state() else 1
    state = tuple(torch.randn(1, batch, hidden, dtype=torch.float64) for _ in range(parts))
    return layer, x, state


@pytest.mark.parametrize("cell", CELLS)
def test_trace_computes_what_the_layer_computes(cell):
    """The gates the inspect page shows come from a trace whose hidden states
    equal the layer's own forward pass (oneDNN's fused kernel for the built-ins)."""
    layer, x, state = _layer_and_input(cell)
    out, new_state = layer(x, state if len(state) > 1 else state[0])
    traced, traced_state, gates = layer.trace(x, state)
    assert set(gates) == set(CELLS[cell].signal_names())
    torch.testing.assert_close(traced, out, rtol=0, atol=1e-10)
    for mine, theirs in zip(traced_state, new_state if isinstance(new_state, tuple) else (new_state,)):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-10)
    for name in SIGMOID_GATES & set(gates):
        assert 0 < gates[name].min() and gates[name].max() < 1, name


@pytest.mark.parametrize("cell", list(CELLS))
def test_traced_gates_equal_the_reference_cells(cell):
    """Gate by gate, the values the model exposes are the reference equations' values."""
    layer, x, state = _layer_and_input(cell)
    _, _, gates = layer.trace(x, state)
    ref = reference_of(layer)
    ref_state = tuple(s[0].numpy() for s in state)
    _, _, ref_trace = ref.forward(x.numpy(), ref_state if len(ref_state) > 1 else ref_state[0])
    names = {"forget": "f", "input": "i", "candidate": "c_tilde", "output": "o", "cell": "c", "hidden": "h",
             "reset": "r", "update": "z"}
    if cell == "gru":
        names["candidate"] = "n"
    for name in CELLS[cell].signal_names():
        np.testing.assert_allclose(gates[name].detach().numpy(), ref_trace[names[name]], rtol=0, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("cell", ["peephole", "layernorm-lstm"])
def test_fast_backward_equals_autograd_through_the_plain_loop(cell):
    """Recurrence's hand-organised backward gives autograd's gradients for every
    parameter, the input and the initial state."""
    layer, x, state = _layer_and_input(cell)
    weights = torch.randn(3, 6, 5, dtype=torch.float64)

    def gradients(run):
        layer.zero_grad()
        xs = x.clone().requires_grad_()
        h0, c0 = (s.clone().requires_grad_() for s in state)
        out, (h, c) = run(xs, (h0, c0))[:2]
        ((out * weights).sum() + (h * 0.7).sum() + (c * 1.3).sum()).backward()
        return [xs.grad, h0.grad, c0.grad] + [p.grad.clone() for p in layer.parameters()]

    fast = gradients(layer)
    plain = gradients(layer.trace)
    assert len(fast) == 3 + len(list(layer.parameters()))
    for f, p in zip(fast, plain):
        assert p.abs().max() > 0
        torch.testing.assert_close(f, p, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("cell", ["peephole", "layernorm-lstm"])
def test_fast_backward_passes_gradcheck(cell):
    layer, x, state = _layer_and_input(cell, batch=2, steps=3, inputs=2, hidden=3)
    params = list(layer.parameters())

    def run(xs, h0, c0, *_):
        out, (h, c) = layer(xs, (h0, c0))
        return out, h, c

    inputs = (x.requires_grad_(), *(s.clone().requires_grad_() for s in state), *params)
    assert torch.autograd.gradcheck(run, inputs, eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("cell", ["peephole", "layernorm-lstm"])
def test_extra_cells_train_under_bf16_autocast(cell):
    """bf16 products, float32 state: close to the float32 result, gradients finite."""
    torch.manual_seed(0)
    layer = make_layer(cell, 16, 32)
    x = torch.randn(4, 20, 16)
    exact, _ = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast, (h, c) = layer(x)
    assert c.dtype == torch.float32
    assert (fast.float() - exact).abs().max() < 0.05
    fast.float().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())


def test_model_trace_matches_its_forward_pass():
    torch.manual_seed(0)
    model = RecurrentLM(ModelConfig(vocab_size=12, cell="lstm", hidden_sizes=(8, 6), embed_dim=4)).eval()
    ids = torch.randint(0, 12, (2, 9))
    logits, state = model(ids)
    traced, traced_state, gates = model.trace(ids)
    torch.testing.assert_close(traced, logits)
    assert [g["hidden"].shape for g in gates] == [(2, 9, 8), (2, 9, 6)]
    torch.testing.assert_close(gates[1]["cell"][:, -1], state[1][1][0])


def test_one_hot_inputs_have_nothing_to_learn():
    """--embed-dim 0: the first layer reads one-hot vectors (seeds 001 and 004)."""
    config = ModelConfig(vocab_size=50, hidden_sizes=(128,), embed_dim=0)
    model = RecurrentLM(config)
    assert config.input_size == 50 and model.rnn.layers[0].input_size == 50
    assert not model.embedding.weight.requires_grad
    torch.testing.assert_close(model.embedding(torch.tensor([3]))[0], torch.eye(50)[3])
    trainable = sum(p.numel() for p in model.rnn.parameters() if p.requires_grad)
    assert trainable == 91_648 + 4 * 128  # seed 001's LSTM(128) on 50 symbols, plus torch's second bias


@pytest.mark.parametrize("cell", ["peephole", "layernorm-lstm"])
def test_a_finished_step_frees_what_it_saved(cell):
    """What the forward pass keeps for backward goes when the outputs go; an
    output kept in its own node's context would leak a sequence's worth of
    values every training step."""
    layer, x, state = _layer_and_input(cell)
    out, (h, c) = layer(x, state)
    saved = weakref.ref(out.grad_fn.saved_steps[-1]["forget"])
    (out.sum() + h.sum() + c.sum()).backward()
    del out, h, c
    gc.collect()
    assert saved() is None


@pytest.mark.parametrize("cell", ["peephole", "layernorm-lstm"])
def test_float32_fast_path_agrees_with_the_plain_loop(cell):
    """Float32 takes the packed oneDNN products (float64 above cannot): same outputs and gradients."""
    torch.manual_seed(0)
    layer = make_layer(cell, 8, 16)
    x = torch.randn(4, 10, 8)
    assert RecurrentProduct(layer.weight_hh, torch.float32, 4).packed is not None or not torch.backends.mkldnn.is_available()
    grads = []
    for run in (layer, layer.trace):
        layer.zero_grad()
        out = run(x)[0]
        out.pow(2).sum().backward()
        grads.append((out.detach(), [p.grad.clone() for p in layer.parameters()]))
    (fast_out, fast_grads), (plain_out, plain_grads) = grads
    torch.testing.assert_close(fast_out, plain_out, rtol=1e-5, atol=1e-6)
    for f, p in zip(fast_grads, plain_grads):
        torch.testing.assert_close(f, p, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cell", ["peephole", "layernorm-lstm"])
def test_a_single_step_multiplies_plainly_and_agrees_with_the_plain_loop(cell):
    """One step (generation with the model's own layers) does not re-lay the weight out:
    that costs more than the one product it would speed up."""
    torch.manual_seed(0)
    layer = make_layer(cell, 8, 16)
    assert RecurrentProduct(layer.weight_hh, torch.float32, 4, steps=1).packed is None
    x, state = torch.randn(4, 1, 8), (torch.randn(1, 4, 16), torch.randn(1, 4, 16))
    out, (h, c) = layer(x, state)
    traced, (traced_h, traced_c), _ = layer.trace(x, state)
    torch.testing.assert_close(out, traced, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(c, traced_c, rtol=1e-5, atol=1e-6)
