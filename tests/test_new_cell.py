"""A cell kind added the way docs/architecture.md says, in this file alone: a PyTorch layer that
declares itself (what cells.py's layers declare) and its NumPy twin (what reference/<cell>.py
holds). Registered for the length of a test, it must train, generate with both steppers,
inspect, summarise and serve like the built-in kinds, with nothing else in the package changed.

The toy cell is a one-gate unit (a "minimal gated unit" without the reset):
    f_t = σ(x_t W_f + h_{t-1} U_f + b_f)          blend
    n_t = tanh(x_t W_n + h_{t-1} U_n + b_n)       candidate
    h_t = (1 - f_t) ⊙ h_{t-1} + f_t ⊙ n_t
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import lstmlab
from lstmlab import reference
from lstmlab.cells import CELLS, CellLayer, Signal, layer_from_reference, reference_of, register_cell
from lstmlab.lm.config import ModelConfig
from lstmlab.lm.model import RecurrentLM
from lstmlab.lm.summary import format_summary
from lstmlab.reference.common import blocks, d_sigmoid, d_tanh, sigmoid

pytestmark = pytest.mark.slow

KIND = "toy-gated"


class ToyReference(reference.Cell):
    """The equations in NumPy over the fused layout: W (I, 2H), U (H, 2H), b (2H,), blocks f, n."""

    name = KIND
    gates = ("f", "n")

    @staticmethod
    def pointwise(p, x_part, hu, h_prev, record=None):
        a_f, a_n = blocks(x_part + hu, 2)
        f, n = sigmoid(a_f), np.tanh(a_n)
        h = (1.0 - f) * h_prev + f * n
        if record is not None:
            record.update(f=f, n=n)
        return h, h

    @staticmethod
    def pointwise_backward(p, s, d_h, grads):
        d_a = np.concatenate([d_h * (s["n"] - s["h_prev"]) * d_sigmoid(s["f"]), d_h * s["f"] * d_tanh(s["n"])], axis=1)
        return d_a, d_a, d_h * (1.0 - s["f"])


class ToyLayer(CellLayer, nn.Module):
    """The PyTorch side: autograd through trace()'s loop (no hand-written backward needed). Its
    weight_ih, weight_hh and bias are the layout CellLayer converts to the reference's by default."""

    kind = KIND
    title = "ToyGatedUnit"
    help = "a one-gate toy cell (tests only)"
    reference = ToyReference
    signals = (Signal("blend", "f", "sigmoid", "how much of the candidate replaces the old state."),
               Signal("candidate", "n", "tanh", "the new value proposed at this character."),
               Signal("hidden", "h", "tanh", "the unit's state and output."))

    def __init__(self, input_size: int, hidden_size: int, recurrent_dropout: float = 0.0):
        super().__init__()
        self.input_size, self.hidden_size, self.recurrent_dropout = input_size, hidden_size, recurrent_dropout
        bound = hidden_size ** -0.5
        self.weight_ih = nn.Parameter(torch.empty(2 * hidden_size, input_size).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(torch.empty(2 * hidden_size, hidden_size).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(2 * hidden_size))

    def recurrent_weight(self):
        return self.weight_hh

    def project_inputs(self, x):
        return F.linear(x, self.weight_ih, self.bias)

    def pointwise(self, x_proj, recurrent, h_prev):
        a_f, a_n = (x_proj + recurrent).chunk(2, dim=1)
        f, n = torch.sigmoid(a_f), torch.tanh(a_n)
        h = (1 - f) * h_prev + f * n
        return h, h, dict(blend=f, candidate=n, hidden=h)

    def forward(self, x, state=None):
        out, final, _ = self.trace(x, None if state is None else (state,))
        return out, final[0]


@pytest.fixture
def toy_cell():
    register_cell(ToyLayer)
    try:
        yield KIND
    finally:
        del CELLS[KIND]


def test_the_toy_layer_matches_its_numpy_twin(toy_cell):
    """The twin is the oracle: float64 outputs equal, and its BPTT equals autograd through the layer."""
    torch.manual_seed(0)
    layer = ToyLayer(3, 5).double()
    cell = reference_of(layer)
    assert isinstance(cell, ToyReference)
    x = np.random.default_rng(1).normal(size=(2, 6, 3))
    out, final, trace = cell.forward(x)
    x_t = torch.tensor(x, requires_grad=True)
    torch_out, _ = layer(x_t)
    np.testing.assert_allclose(out, torch_out.detach().numpy(), rtol=0, atol=1e-12)
    torch_out.sum().backward()
    grads = cell.backward(trace, np.ones_like(out))
    np.testing.assert_allclose(grads["x"], x_t.grad.numpy(), rtol=0, atol=1e-12)
    for name, p in ToyLayer.torch_parameters(grads, gradient=True).items():
        np.testing.assert_allclose(p, dict(layer.named_parameters())[name].grad.numpy(), rtol=0, atol=1e-12, err_msg=name)
    back = reference_of(layer_from_reference(cell))
    assert all(np.array_equal(back.params[k], cell.params[k]) for k in cell.params)


def test_a_new_cell_trains_generates_inspects_summarises_and_serves(toy_cell, shakespeare_slice, tmp_path, cli):
    run = tmp_path / "toy"
    code, out, err = cli("train", shakespeare_slice, "--cell", KIND, "--hidden", "48,32", "--steps", "60",
                         "--eval-every", "30", "--no-progress", "--out", run)
    assert code == 0, err
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["cell"] == KIND
    losses = [json.loads(line)["val_loss"] for line in (run / "metrics.jsonl").read_text().splitlines()
              if "val_loss" in line]
    assert losses[-1] < losses[0] - 0.3, losses  # it learns

    lm = lstmlab.load(run)
    model = lm.model
    prompt = torch.randint(1, model.config.vocab_size, (3, 7))
    for options in (dict(temperature=0), dict(temperature=0.9, seed=4)):
        by_numpy = np.stack(list(model.generate(prompt, 30, stepper="numpy", suppress=(0,), **options)))
        by_torch = np.stack(list(model.generate(prompt, 30, stepper="torch", suppress=(0,), **options)))
        np.testing.assert_array_equal(by_numpy, by_torch, err_msg=str(options))
    # Greedy generation equals the model's own forward pass, step by step.
    seq = prompt[:1]
    greedy = np.stack(list(model.generate(seq, 10, temperature=0, stepper="numpy")))[:, 0]
    with torch.inference_mode():
        for expected in greedy:
            next_id = model(seq)[0][:, -1].argmax(-1)
            assert next_id.item() == expected
            seq = torch.cat([seq, next_id[:, None]], dim=1)
    assert len(lm.generate("ROMEO:", length=50, temperature=0.8, seed=1)) >= 50

    code, out, err = cli("generate", run, "--prompt", "KING", "--length", "40", "--seed", "2")
    assert code == 0 and len(out.strip()) >= 40, err

    inspection = lm.inspect("To be, or not to be, that is the question.")
    assert set(inspection.gates[0]) == {"blend", "candidate", "hidden"}
    page, png = tmp_path / "inside.html", tmp_path / "inside.png"
    code, out, err = cli("inspect", run, "--text", "To be, or not to be.", "--out", page, "--png", png)
    assert code == 0, err
    html = page.read_text()
    assert "how much of the candidate replaces the old state." in html and png.stat().st_size > 1000

    summary = format_summary(ModelConfig(vocab_size=20, cell=KIND, hidden_sizes=(8,)))
    assert "ToyGatedUnit" in summary and f"{KIND}_1" in summary
    assert sum(p.numel() for p in RecurrentLM(ModelConfig(vocab_size=20, cell=KIND, hidden_sizes=(8,))).parameters()) \
        == int(summary.split("Total params: ")[1].split()[0].replace(",", ""))

    _serve_and_ask(run)


def _serve_and_ask(run) -> None:
    """A real uvicorn server on a loopback port, in this process (where the toy cell is registered)."""
    import uvicorn

    from lstmlab.serve.app import create_app
    from lstmlab.serve.models import load_served

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # log_config=None: leave this process's logging alone (uvicorn's own config would point its
    # handlers at the test's captured stderr, which is closed after the test).
    server = uvicorn.Server(uvicorn.Config(create_app(load_served([f"toy={run}"])), host="127.0.0.1", port=port,
                                           log_config=None, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)

        def post(path: str, body: dict) -> dict:
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as reply:
                return json.loads(reply.read())

        generated = post("/v1/generate", {"model": "toy", "prompt": "ROMEO:", "length": 30, "seed": 1})
        assert len(generated["samples"][0]["text"]) == 30, generated
        inspected = post("/v1/inspect", {"model": "toy", "text": "To be"})
        assert "blend" in json.dumps(inspected)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
