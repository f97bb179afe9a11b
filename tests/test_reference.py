"""The NumPy reference cells against PyTorch, against finite differences, and against hand arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from lstmlab import reference as R
from lstmlab.cells import CELLS, layer_from_reference, make_layer, reference_of

B, T, I, H = 2, 4, 3, 5
KINDS = tuple(R.CELLS)
LSTM_KINDS = tuple(kind for kind, cell in R.CELLS.items() if cell.has_cell_state)


def test_every_layer_has_its_reference():
    """The NumPy twins and the PyTorch layers cover the same kinds, and each layer names its own."""
    assert set(KINDS) == set(CELLS) and len(KINDS) == 5
    for kind, layer in CELLS.items():
        assert layer.reference is R.CELLS[kind] and layer.reference.name == kind


def torch_tol(kind: str) -> float:
    """How closely PyTorch must agree, in float64: after .double() every torch
    layer here computes in float64, so only rounding separates it from the reference."""
    return 1e-9


def make_torch_layer(kind: str, seed: int = 0) -> nn.Module:
    """A float64 PyTorch layer of the given kind with every parameter random.

    Biases, peepholes and norm gains are randomised too: lstmlab's peephole cell starts
    its peepholes at zero (and the norms at gain 1), which would hide any mistake in how they are used.
    """
    torch.manual_seed(seed)
    layer = make_layer(kind, I, H).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.uniform_(-0.7, 0.7)
    return layer


def random_inputs(kind: str, seed: int = 1):
    """x (B, T, I), a non-zero initial state, and fixed weights R, R2, R3 for the loss."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, T, I))
    h0 = rng.normal(scale=0.5, size=(B, H))
    state = (h0, rng.normal(scale=0.5, size=(B, H))) if kind in LSTM_KINDS else h0
    weights = rng.normal(size=(B, T, H)), rng.normal(size=(B, H)), rng.normal(size=(B, H))
    return x, state, weights


def loss_of(kind, outputs, final_state, weights) -> float:
    """L = Σ outputs ⊙ R + Σ h_T ⊙ R2 (+ Σ C_T ⊙ R3 for the LSTM kinds)."""
    r, r2, r3 = weights
    if kind in LSTM_KINDS:
        h_T, c_T = final_state
        return float(np.sum(outputs * r) + np.sum(h_T * r2) + np.sum(c_T * r3))
    return float(np.sum(outputs * r) + np.sum(final_state * r2))


def d_final(kind, weights):
    """∂L/∂(final state) for loss_of."""
    _, r2, r3 = weights
    return (r2, r3) if kind in LSTM_KINDS else r2


def run_torch(kind, layer, x: np.ndarray, state, requires_grad: bool = False):
    """The torch layer on NumPy inputs; returns outputs, the final state as (B, H) tensors, and the leaf inputs."""
    x_t = torch.tensor(x, requires_grad=requires_grad)
    if state is None:
        leaves = ()
        torch_state = None
    else:
        leaves = tuple(torch.tensor(s, requires_grad=requires_grad) for s in (state if kind in LSTM_KINDS else (state,)))
        parts = tuple(s[None] for s in leaves)  # (1, B, H), as nn.LSTM wants
        torch_state = parts if kind in LSTM_KINDS else parts[0]
    outputs, final = layer(x_t, torch_state)
    if kind in LSTM_KINDS:
        final = (final[0][0], final[1][0])
    else:
        final = final[0]
    return outputs, final, (x_t, *leaves)


def as_numpy(state):
    if isinstance(state, tuple):
        return tuple(s.detach().numpy() for s in state)
    return state.detach().numpy()


# -- forward: reference == PyTorch ------------------------------------------

@pytest.mark.parametrize("with_state", [False, True], ids=["zero-state", "random-state"])
@pytest.mark.parametrize("kind", KINDS)
def test_forward_matches_torch(kind, with_state):
    layer = make_torch_layer(kind)
    cell = reference_of(layer)
    assert isinstance(cell, R.CELLS[kind])
    x, state, _ = random_inputs(kind)
    state = state if with_state else None

    out_ref, final_ref, _ = cell.forward(x, state)
    with torch.no_grad():
        out_torch, final_torch, _ = run_torch(kind, layer, x, state)

    tol = torch_tol(kind)
    np.testing.assert_allclose(out_ref, out_torch.numpy(), rtol=0, atol=tol)
    if kind in LSTM_KINDS:
        for ref, tor in zip(final_ref, as_numpy(final_torch)):
            np.testing.assert_allclose(ref, tor, rtol=0, atol=tol)
    else:
        np.testing.assert_allclose(final_ref, final_torch.numpy(), rtol=0, atol=tol)
    # The sequences must actually move: a dead cell (all zeros) would match trivially.
    assert np.abs(out_ref).max() > 0.05


@pytest.mark.parametrize("kind", KINDS)
def test_every_parameter_reaches_the_torch_comparison(kind):
    """Nudging any one parameter breaks the agreement, so no parameter is ignored or mis-wired."""
    layer = make_torch_layer(kind)
    cell = reference_of(layer)
    x, state, _ = random_inputs(kind)
    with torch.no_grad():
        out_torch = run_torch(kind, layer, x, state)[0].numpy()
    tol = torch_tol(kind)
    assert np.abs(cell.forward(x, state)[0] - out_torch).max() < tol
    rng = np.random.default_rng(0)
    for name in cell.params:
        params = {k: v.copy() for k, v in cell.params.items()}
        # A random nudge, not a constant: a layer norm cannot see the same number added to all its inputs.
        params[name] += 1e-2 * rng.normal(size=params[name].shape)
        nudged = type(cell)(params).forward(x, state)[0]
        assert np.abs(nudged - out_torch).max() > 10 * tol, name


def test_gate_order_mix_up_is_caught():
    """Reading PyTorch's blocks as f, i, g, o (the order the equations are written in) must fail."""
    layer = make_torch_layer("lstm")
    cell = reference_of(layer)
    x, state, _ = random_inputs("lstm")
    swapped = dict(cell.params)
    for name in "WUb":
        i_block, f_block = cell.gate(name, "i").copy(), cell.gate(name, "f").copy()
        swapped[name] = np.concatenate([f_block, i_block, cell.gate(name, "c"), cell.gate(name, "o")], axis=-1)
    with torch.no_grad():
        out_torch = run_torch("lstm", layer, x, state)[0].numpy()
    assert np.abs(R.LSTM(swapped).forward(x, state)[0] - out_torch).max() > 1e-3


@pytest.mark.parametrize("kind", KINDS)
def test_torch_round_trip(kind):
    """to_torch then from_torch gives back the same parameters, and the layer computes the same outputs."""
    cell = R.CELLS[kind].random(I, H, rng=3)
    layer = layer_from_reference(cell)
    back = reference_of(layer)
    assert back.params.keys() == cell.params.keys()
    for name in cell.params:
        np.testing.assert_array_equal(back.params[name], cell.params[name])
    x, state, _ = random_inputs(kind)
    with torch.no_grad():
        out_torch = run_torch(kind, layer, x, state)[0].numpy()
    np.testing.assert_allclose(cell.forward(x, state)[0], out_torch, rtol=0, atol=torch_tol(kind))


# -- backward: BPTT == finite differences == autograd -------------------------

def numeric_gradient(f, array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f() with respect to every entry of `array` (changed in place, restored)."""
    grad = np.zeros_like(array)
    for idx in np.ndindex(array.shape):
        saved = array[idx]
        array[idx] = saved + eps
        up = f()
        array[idx] = saved - eps
        down = f()
        array[idx] = saved
        grad[idx] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("kind", KINDS)
def test_backward_matches_finite_differences(kind):
    cell = R.CELLS[kind].random(I, H, rng=2, scale=0.8)
    x, state, weights = random_inputs(kind)
    parts = list(state) if kind in LSTM_KINDS else [state]

    def loss() -> float:
        s = tuple(parts) if kind in LSTM_KINDS else parts[0]
        outputs, final, _ = cell.forward(x, s)
        return loss_of(kind, outputs, final, weights)

    _, _, trace = cell.forward(x, state)
    grads = cell.backward(trace, weights[0], d_final(kind, weights))

    expected_keys = set(cell.params) | {"x", "h0"} | ({"c0"} if kind in LSTM_KINDS else set())
    assert set(grads) == expected_keys

    checks = [(name, value) for name, value in cell.params.items()]
    checks += [("x", x)] + list(zip(("h0", "c0"), parts))
    for name, array in checks:
        numeric = numeric_gradient(loss, array)
        # Every quantity influences the loss, so a gradient of zero everywhere would be a bug in forward.
        assert np.abs(numeric).max() > 1e-4, name
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_backward_matches_torch_autograd(kind):
    layer = make_torch_layer(kind, seed=5)
    cell = reference_of(layer)
    x, state, weights = random_inputs(kind, seed=6)

    outputs, final, leaves = run_torch(kind, layer, x, state, requires_grad=True)
    r, r2, r3 = (torch.tensor(w) for w in weights)
    loss = (outputs * r).sum()
    if kind in LSTM_KINDS:
        loss = loss + (final[0] * r2).sum() + (final[1] * r3).sum()
    else:
        loss = loss + (final * r2).sum()
    loss.backward()

    _, _, trace = cell.forward(x, state)
    grads = cell.backward(trace, weights[0], d_final(kind, weights))

    # Reference gradients mapped into PyTorch's layout (the adjoint of from_torch's conversion).
    torch_grads = CELLS[kind].torch_parameters(grads, gradient=True)
    named = dict(layer.named_parameters())
    tol = torch_tol(kind)
    assert torch_grads.keys() == named.keys()
    for name, p in named.items():
        np.testing.assert_allclose(torch_grads[name], p.grad.numpy(), rtol=0, atol=tol, err_msg=name)
    for name, leaf in zip(("x", "h0", "c0"), leaves):
        np.testing.assert_allclose(grads[name], leaf.grad.numpy(), rtol=0, atol=tol, err_msg=name)


def test_backward_without_final_state_gradient():
    """d_final_state=None means the loss reads only the outputs: same as passing zeros."""
    cell = R.LSTM.random(I, H, rng=4)
    x, state, weights = random_inputs("lstm")
    _, _, trace = cell.forward(x, state)
    zeros = np.zeros((B, H))
    a = cell.backward(trace, weights[0])
    b = cell.backward(trace, weights[0], (zeros, None))
    c = cell.backward(trace, weights[0], (weights[1], zeros))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.allclose(a["h0"], c["h0"])


# -- seed 002's hand checks -------------------------------------------------------

def test_lstm_by_hand():
    """A 1-unit LSTM on the sequence [1, 3], with U = 0 as in seed 002's Keras toy.

    Weights (input size 1, hidden size 1; all recurrent weights U_* = 0):
        W_i = 0.5   b_i =  0        W_f = 0.25  b_f =  1
        W_c = 0.5   b_c = -1        W_o = 1     b_o = -1
    Initial state h_0 = C_0 = 0. Since U = 0, each gate depends only on x_t.

    Step 1, x_1 = 1:
        i: a = 0.5·1 + 0  = 0.5    i_1 = σ(0.5)  = 1/(1 + e^-0.5)  = 1/(1 + 0.6065307) = 0.6224593
        f: a = 0.25·1 + 1 = 1.25   f_1 = σ(1.25) = 1/(1 + 0.2865048)               = 0.7772999
        c: a = 0.5·1 - 1  = -0.5   C̃_1 = tanh(-0.5)                                = -0.4621172
        o: a = 1·1 - 1    = 0      o_1 = σ(0)                                       = 0.5
        C_1 = f_1·C_0 + i_1·C̃_1 = 0.7772999·0 + 0.6224593·(-0.4621172)             = -0.2876491
        h_1 = o_1·tanh(C_1) = 0.5·tanh(-0.2876491) = 0.5·(-0.2799696)               = -0.1399848

    Step 2, x_2 = 3:
        i: a = 0.5·3 + 0  = 1.5    i_2 = σ(1.5)  = 1/(1 + 0.2231302)  = 0.8175745
        f: a = 0.25·3 + 1 = 1.75   f_2 = σ(1.75) = 1/(1 + 0.1737739)  = 0.8519528
        c: a = 0.5·3 - 1  = 0.5    C̃_2 = tanh(0.5)                    = 0.4621172
        o: a = 1·3 - 1    = 2      o_2 = σ(2)    = 1/(1 + 0.1353353)  = 0.8807971
        C_2 = f_2·C_1 + i_2·C̃_2 = 0.8519528·(-0.2876491) + 0.8175745·0.4621172
            = -0.2450635 + 0.3778152                                             = 0.1327517
        h_2 = o_2·tanh(C_2) = 0.8807971·tanh(0.1327517) = 0.8807971·0.1319773   = 0.1162453
    """
    i1, f1, c_tilde1, o1, c1, h1 = 0.6224593, 0.7772999, -0.4621172, 0.5, -0.2876491, -0.1399848
    c2, h2 = 0.1327517, 0.1162453
    tol = 1e-6

    w = {"i": 0.5, "f": 0.25, "c": 0.5, "o": 1.0}
    b = {"i": 0.0, "f": 1.0, "c": -1.0, "o": -1.0}
    params = {}
    for g in "ifco":
        params[f"W_{g}"] = [[w[g]]]
        params[f"U_{g}"] = [[0.0]]
        params[f"b_{g}"] = [b[g]]
    x = np.array([[[1.0], [3.0]]])  # (B=1, T=2, I=1)

    outputs, (h_T, c_T), trace = R.LSTM.from_gates(params).forward(x)
    step1 = trace.steps[0]
    for name, value in dict(i=i1, f=f1, c_tilde=c_tilde1, o=o1, c=c1, h=h1).items():
        assert abs(step1[name].item() - value) < tol, name
    assert abs(outputs[0, 0, 0] - h1) < tol
    assert abs(outputs[0, 1, 0] - h2) < tol
    assert abs(h_T.item() - h2) < tol and abs(c_T.item() - c2) < tol

    # PyTorch loaded directly (not through the converter): rows in order i, f, g, o.
    lstm = nn.LSTM(1, 1, batch_first=True).double()
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.tensor([[0.5], [0.25], [0.5], [1.0]]))
        lstm.weight_hh_l0.zero_()
        lstm.bias_ih_l0.copy_(torch.tensor([0.0, 1.0, -1.0, -1.0]))
        lstm.bias_hh_l0.zero_()
        out, (h_n, c_n) = lstm(torch.tensor(x))
    assert abs(out[0, 0, 0].item() - h1) < tol
    assert abs(out[0, 1, 0].item() - h2) < tol
    assert abs(h_n.item() - h2) < tol and abs(c_n.item() - c2) < tol


def test_elman_rnn_by_hand():
    """A 1-unit Elman RNN (seed 002's SimpleRNN toy) on the sequence [1, 3].

    Weights: W = 0.5, U = -1, b = 0; h_0 = 0.
        Step 1: a_1 = 0.5·1 + (-1)·0 + 0 = 0.5
                h_1 = tanh(0.5) = (e^1 - 1)/(e^1 + 1) = 1.7182818/3.7182818 = 0.4621172
        Step 2: a_2 = 0.5·3 + (-1)·0.4621172 + 0 = 1.5 - 0.4621172 = 1.0378828
                h_2 = tanh(1.0378828) = (e^2.0757657 - 1)/(e^2.0757657 + 1)
                    = 6.9701478/8.9701478 = 0.7770506
    """
    h1, h2 = 0.4621172, 0.7770506
    tol = 1e-6
    x = np.array([[[1.0], [3.0]]])

    outputs, h_T, _ = R.ElmanRNN({"W": [[0.5]], "U": [[-1.0]], "b": [0.0]}).forward(x)
    assert abs(outputs[0, 0, 0] - h1) < tol
    assert abs(outputs[0, 1, 0] - h2) < tol and abs(h_T.item() - h2) < tol

    rnn = nn.RNN(1, 1, batch_first=True).double()
    with torch.no_grad():
        rnn.weight_ih_l0.fill_(0.5)
        rnn.weight_hh_l0.fill_(-1.0)
        rnn.bias_ih_l0.zero_()
        rnn.bias_hh_l0.zero_()
        out, h_n = rnn(torch.tensor(x))
    assert abs(out[0, 0, 0].item() - h1) < tol
    assert abs(out[0, 1, 0].item() - h2) < tol and abs(h_n.item() - h2) < tol


def test_hand_values_are_the_true_functions():
    """The rounded literals above agree with math's own σ and tanh (guards against a slip in the comments)."""
    def sig(a):
        return 1.0 / (1.0 + math.exp(-a))

    c1 = sig(0.5) * math.tanh(-0.5)
    c2 = sig(1.75) * c1 + sig(1.5) * math.tanh(0.5)
    assert abs(c1 - -0.2876491) < 1e-6
    assert abs(c2 - 0.1327517) < 1e-6
    assert abs(sig(2.0) * math.tanh(c2) - 0.1162453) < 1e-6
    assert abs(math.tanh(1.5 - math.tanh(0.5)) - 0.7770506) < 1e-6


# -- the trace and the API's checks --------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_trace_keeps_every_step(kind):
    cell = R.CELLS[kind].random(I, H, rng=7)
    x, state, _ = random_inputs(kind)
    outputs, final, trace = cell.forward(x, state)
    assert len(trace.steps) == T
    np.testing.assert_array_equal(trace["h"], outputs)
    # h_prev of step t is h of step t-1, starting from the initial state.
    h0 = state[0] if kind in LSTM_KINDS else state
    np.testing.assert_array_equal(trace["h_prev"][:, 0], h0)
    np.testing.assert_array_equal(trace["h_prev"][:, 1:], outputs[:, :-1])
    if kind in LSTM_KINDS:
        np.testing.assert_array_equal(trace["c"][:, -1], final[1])
        for name in ("f", "i", "o"):
            assert trace[name].shape == (B, T, H) and np.all((trace[name] > 0) & (trace[name] < 1))
    text = trace.format(batch=1)
    assert text.count("\nt=") == T and "h=" in text


def test_gru_keeps_separate_candidate_bias():
    """b'_n sits inside r_t ⊙ (...): moving it into b_n changes the output whenever r_t ≠ 1."""
    cell = R.GRU.random(I, H, rng=8)
    x, state, _ = random_inputs("gru")
    params = {name: value.copy() for name, value in cell.params.items()}
    params["b"][2 * H:] += params["b_h"][2 * H:]
    params["b_h"][2 * H:] = 0.0
    assert np.abs(R.GRU(params).forward(x, state)[0] - cell.forward(x, state)[0]).max() > 1e-4


def test_bad_parameters_and_shapes_are_refused():
    params = R.LSTM.random(I, H, rng=0).params
    with pytest.raises(ValueError, match="missing"):
        R.LSTM({k: v for k, v in params.items() if k != "b"})
    with pytest.raises(ValueError, match="U has shape"):
        R.LSTM({**params, "U": np.zeros((H, 4 * H + 1))})
    cell = R.LSTM(params)
    with pytest.raises(ValueError):
        cell.forward(np.zeros((B, T, I + 1)))
    with pytest.raises(ValueError):
        cell.forward(np.zeros((B, T, I)), np.zeros((B, H)))  # an LSTM's state is (h, C)
    with pytest.raises(TypeError):
        reference_of(nn.Linear(I, H))
    with pytest.raises(ValueError):
        reference_of(nn.LSTM(I, H, num_layers=2, batch_first=True))
