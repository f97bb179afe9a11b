"""--recurrent-dropout (Keras' recurrent_dropout) and --input-dropout (Keras' dropout= of a
recurrent layer): one mask per sequence, the same at every time step, only in training."""

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from lstmlab.cells import CELLS, dropout_mask, make_layer
from lstmlab.checkpoint import LAST
from lstmlab.config import CELLS
from lstmlab.lm.config import ModelConfig, RunConfig
from lstmlab.lm.model import RecurrentLM

from tests.cli.test_bad_input import assert_one_line_error
from tests.helpers import TINY, shared_file, validation_rows

P = 0.3
BATCH, STEPS, INPUTS, HIDDEN = 3, 6, 4, 5


def _layer_and_input(cell, p=P, dtype=torch.float64):
    torch.manual_seed(0)
    layer = make_layer(cell, INPUTS, HIDDEN, recurrent_dropout=p).to(dtype)
    with torch.no_grad():  # non-trivial peepholes and norms, not their zero/one starting values
        for w in layer.parameters():
            w.add_(0.3 * torch.randn_like(w))
    x = torch.randn(BATCH, STEPS, INPUTS, dtype=dtype)
    parts = 2 if CELLS[cell].has_cell_state() else 1
    state = tuple(torch.randn(1, BATCH, HIDDEN, dtype=dtype) for _ in range(parts))
    return layer, x, state


def _as_layer_state(state):
    """What RecurrentStack passes a layer: (h, c) for the LSTM kinds, the bare h for GRU and RNN."""
    return state if len(state) > 1 else state[0]


def _state_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def _reference(cell, layer, x, state, mask):
    """The cells' gate equations, written out here, with h_{t-1} multiplied by `mask` where it
    enters the recurrent product (Keras 3: h_tm1 = h_tm1 * rec_dp_mask, one mask for all gates)."""
    H = HIDDEN
    h = state[0][0]
    c = state[1][0] if len(state) > 1 else None
    outputs = []
    for x_t in x.unbind(1):
        hm = h * mask
        if cell == "lstm":
            z = x_t @ layer.weight_ih_l0.T + layer.bias_ih_l0 + hm @ layer.weight_hh_l0.T + layer.bias_hh_l0
            i, f, g, o = torch.sigmoid(z[:, :H]), torch.sigmoid(z[:, H:2 * H]), torch.tanh(z[:, 2 * H:3 * H]), \
                torch.sigmoid(z[:, 3 * H:])
            c = f * c + i * g
            h = o * torch.tanh(c)
        elif cell == "gru":
            gi = x_t @ layer.weight_ih_l0.T + layer.bias_ih_l0
            gh = hm @ layer.weight_hh_l0.T + layer.bias_hh_l0
            r = torch.sigmoid(gi[:, :H] + gh[:, :H])
            u = torch.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
            n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
            h = (1 - u) * n + u * h  # the unmasked state: only the product sees the mask
        elif cell == "rnn":
            h = torch.tanh(x_t @ layer.weight_ih_l0.T + layer.bias_ih_l0 + hm @ layer.weight_hh_l0.T
                           + layer.bias_hh_l0)
        elif cell == "peephole":
            z = x_t @ layer.weight_ih.T + layer.bias + hm @ layer.weight_hh.T
            i = torch.sigmoid(z[:, :H] + layer.peephole_i * c)
            f = torch.sigmoid(z[:, H:2 * H] + layer.peephole_f * c)
            g = torch.tanh(z[:, 2 * H:3 * H])
            c = f * c + i * g
            o = torch.sigmoid(z[:, 3 * H:] + layer.peephole_o * c)
            h = o * torch.tanh(c)
        elif cell == "layernorm-lstm":
            eps = layer.norm_hh.eps
            z = (F.layer_norm(x_t @ layer.weight_ih.T, (4 * H,), layer.norm_ih.weight, None, eps) + layer.bias
                 + F.layer_norm(hm @ layer.weight_hh.T, (4 * H,), layer.norm_hh.weight, None, eps))
            i, f, g, o = torch.sigmoid(z[:, :H]), torch.sigmoid(z[:, H:2 * H]), torch.tanh(z[:, 2 * H:3 * H]), \
                torch.sigmoid(z[:, 3 * H:])
            c = f * c + i * g
            h = o * torch.tanh(F.layer_norm(c, (H,), layer.norm_cell.weight, layer.norm_cell.bias,
                                            layer.norm_cell.eps))
        outputs.append(h)
    return torch.stack(outputs, 1), (h[None],) if c is None else (h[None], c[None])


def _outputs_and_gradients(layer, run, x, state):
    """Outputs, and the gradients of a weighted sum of them (the final state included) with
    respect to the input, the initial state and every parameter."""
    layer.zero_grad()
    xs = x.clone().requires_grad_()
    s0 = tuple(s.clone().requires_grad_() for s in state)
    out, new_state = run(xs, s0)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    loss = (out * weights).sum()
    for k, s in enumerate(_state_tuple(new_state)):
        loss = loss + (s * (0.7 + 0.6 * k)).sum()
    loss.backward()
    grads = [xs.grad, *(s.grad for s in s0)] + [w.grad.clone() for w in layer.parameters()]
    return out.detach(), [s.detach() for s in _state_tuple(new_state)], grads


@pytest.mark.parametrize("cell", CELLS)
def test_forward_and_backward_equal_the_gate_equations_with_the_same_mask(cell):
    layer, x, state = _layer_and_input(cell)
    layer.train()
    torch.manual_seed(5)
    fast = _outputs_and_gradients(layer, lambda xs, s0: layer(xs, _as_layer_state(s0)), x, state)
    torch.manual_seed(5)  # the layer drew its mask first, from torch's generator
    mask = dropout_mask(BATCH, HIDDEN, P, x.device, torch.float64)
    assert 0 < (mask == 0).sum() < mask.numel()
    ref = _outputs_and_gradients(layer, lambda xs, s0: _reference(cell, layer, xs, s0, mask), x, state)
    torch.testing.assert_close(fast[0], ref[0], rtol=1e-10, atol=1e-12)
    for mine, theirs in zip(fast[1], ref[1]):
        torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-12)
    assert len(fast[2]) == len(ref[2]) == 1 + len(state) + len(list(layer.parameters()))
    for k, (mine, theirs) in enumerate(zip(fast[2], ref[2])):
        assert theirs.abs().max() > 0, k
        torch.testing.assert_close(mine, theirs, rtol=1e-9, atol=1e-11, msg=f"gradient {k}")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_float32_fast_products_agree_with_the_float64_equations(cell):
    """Float32 takes oneDNN's packed products where it can (float64 above cannot)."""
    layer, x, state = _layer_and_input(cell, dtype=torch.float32)
    layer.train()
    torch.manual_seed(5)
    fast = _outputs_and_gradients(layer, lambda xs, s0: layer(xs, _as_layer_state(s0)), x, state)
    torch.manual_seed(5)
    mask = dropout_mask(BATCH, HIDDEN, P, x.device, torch.float32).double()
    layer.double()
    ref = _outputs_and_gradients(layer, lambda xs, s0: _reference(cell, layer, xs, s0, mask), x.double(),
                                 tuple(s.double() for s in state))
    torch.testing.assert_close(fast[0].double(), ref[0], rtol=1e-5, atol=1e-6)
    for mine, theirs in zip(fast[2], ref[2]):
        torch.testing.assert_close(mine.double(), theirs, rtol=1e-4, atol=1e-5)


def test_the_mask_is_fixed_over_time_differs_between_rows_and_drops_p():
    """An RNN that only copies its state through U = I: a dropped unit reads 0 at every step, a
    kept one never does, so the zeros of h_t are the mask's at every t."""
    batch, hidden, p = 64, 256, 0.3
    layer = make_layer("rnn", 1, hidden, recurrent_dropout=p).train()
    with torch.no_grad():
        for w in layer.parameters():
            w.zero_()
        layer.weight_hh_l0.copy_(torch.eye(hidden))
    torch.manual_seed(1)
    out, _ = layer(torch.zeros(batch, 7, 1), torch.ones(1, batch, hidden))
    dropped = out == 0  # (B, T, H)
    assert torch.equal(dropped, dropped[:, :1].expand_as(dropped))
    assert len({tuple(row.tolist()) for row in dropped[:, 0]}) == batch
    assert abs(dropped[:, 0].float().mean().item() - p) < 0.02
    again, _ = layer(torch.zeros(batch, 7, 1), torch.ones(1, batch, hidden))
    assert not torch.equal(again == 0, dropped)  # each forward call draws its own mask

    mask = dropout_mask(batch, hidden, p, torch.device("cpu"))
    values = mask.unique().tolist()
    assert len(values) == 2 and values[0] == 0 and values[1] == pytest.approx(1 / (1 - p))


@pytest.mark.parametrize("cell", CELLS)
def test_eval_mode_is_the_model_without_dropout(cell):
    torch.manual_seed(0)
    plain_cfg = ModelConfig(vocab_size=11, cell=cell, hidden_sizes=(8, 6), embed_dim=5)
    dropped_cfg = dataclasses.replace(plain_cfg, recurrent_dropout=0.4, input_dropout=0.3)
    plain, dropped = RecurrentLM(plain_cfg), RecurrentLM(dropped_cfg)
    dropped.load_state_dict(plain.state_dict())
    ids = torch.randint(0, 11, (3, 9))
    plain.eval(), dropped.eval()
    with torch.no_grad():
        expected, expected_state = plain(ids)
        state_before = torch.get_rng_state()
        got, got_state = dropped(ids)
        assert torch.equal(torch.get_rng_state(), state_before)  # nothing drawn
        assert torch.equal(got, expected)
        for mine, theirs in zip(got_state, expected_state):
            for a, b in zip(mine, theirs):
                assert torch.equal(a, b)
        dropped.train()
        assert not torch.allclose(dropped(ids)[0], expected)

    dropped.train()  # generation switches it off by itself
    prompt = torch.randint(0, 11, (2, 4))
    kept = [step.copy() for step in plain.generate(prompt, 40, temperature=0.9, seed=3)]
    gen = [step.copy() for step in dropped.generate(prompt, 40, temperature=0.9, seed=3)]
    assert all((a == b).all() for a, b in zip(kept, gen)) and len(gen) == 40


def test_input_dropout_masks_every_layer_input_the_same_over_time():
    p = 0.4
    torch.manual_seed(0)
    model = RecurrentLM(ModelConfig(vocab_size=11, cell="lstm", hidden_sizes=(8, 6), embed_dim=16,
                                    input_dropout=p)).train()
    seen, sources = [], []
    for layer in model.rnn.layers:
        layer.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    model.embedding.register_forward_hook(lambda module, args, out: sources.append(out))
    model.rnn.layers[0].register_forward_hook(lambda module, args, out: sources.append(out[0]))
    with torch.no_grad():
        model(torch.randint(0, 11, (32, 12)))
    for layer_input, source in zip(seen, sources):
        assert (source != 0).all()
        ratio = layer_input / source  # (B, T, width): the mask
        torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio))
        values = ratio[:, 0]
        assert torch.allclose(values[values != 0], torch.tensor(1 / (1 - p)))
        assert len({tuple((row == 0).tolist()) for row in values}) > 16  # rows differ
        assert 0.2 < (values == 0).float().mean() < 0.6


def test_builtin_lstm_under_bf16_autocast_keeps_a_float32_state():
    torch.manual_seed(0)
    layer = make_layer("lstm", 16, 32, recurrent_dropout=0.2).train()
    x = torch.randn(4, 20, 16)
    torch.manual_seed(3)
    exact, _ = layer(x)
    torch.manual_seed(3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast, (h, c) = layer(x)
    assert c.dtype == torch.float32
    assert (fast.float() - exact).abs().max() < 0.05
    fast.float().sum().backward()
    assert all(torch.isfinite(w.grad).all() for w in layer.parameters())


def test_old_configs_load_without_the_fields():
    config = json.loads(RunConfig.from_dict({"data": {}, "model": {"vocab_size": 30}, "train": {}}).to_json())
    assert config["model"]["recurrent_dropout"] == 0.0 and config["model"]["input_dropout"] == 0.0
    del config["model"]["recurrent_dropout"], config["model"]["input_dropout"]
    model = RunConfig.from_dict(config).model
    assert model.recurrent_dropout == 0.0 and model.input_dropout == 0.0


@pytest.fixture(scope="module")
def macbeth_slice(tmp_path_factory):
    text = shared_file("text/macbeth.txt").read_text(encoding="utf-8")[:40_000]
    path = tmp_path_factory.mktemp("corpus") / "macbeth_slice.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_training_with_both_trains_and_resumes_exactly(cli, macbeth_slice, tmp_path):
    common = ["--recurrent-dropout", "0.2", "--input-dropout", "0.1", "--dropout", "0.1", "--schedule", "constant",
              "--eval-every", "20", "--lr", "0.005", *TINY[:-3], "--no-progress"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    code, out, err = cli("train", macbeth_slice, "--out", straight, "--steps", "40", *common)
    assert code == 0, err
    assert "dropout 0.1, recurrent dropout 0.2, input dropout 0.1" in out
    config = json.loads((straight / "config.json").read_text())["model"]
    assert config["recurrent_dropout"] == 0.2 and config["input_dropout"] == 0.1
    losses = [row["val_loss"] for row in validation_rows(straight)]
    assert losses[-1] < losses[0] - 0.5, losses

    assert cli("train", macbeth_slice, "--out", split, "--steps", "20", *common)[0] == 0
    code, _, err = cli("train", "--resume", split, "--steps", "20", "--no-progress")
    assert code == 0, err
    a, b = load_file(straight / LAST), load_file(split / LAST)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert validation_rows(straight)[-1]["val_loss"] == validation_rows(split)[-1]["val_loss"]


@pytest.mark.parametrize("flag", ["--recurrent-dropout", "--input-dropout"])
@pytest.mark.parametrize("value", ["-0.1", "1.0"])
def test_bad_rates_are_one_line_errors(cli, macbeth_slice, tmp_path, flag, value):
    result = cli("train", macbeth_slice, "--out", tmp_path / "run", flag, value, "--steps", "1", *TINY)
    assert_one_line_error(result, f"{flag} must be in [0, 1)", value)
    assert not (tmp_path / "run" / "config.json").exists()
