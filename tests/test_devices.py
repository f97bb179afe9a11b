"""--device: which devices resolve here, the one-line error for one that is absent,
and (marked gpu, skipped without CUDA) that every cell and every trained model
computes on a GPU what it computes on the CPU.

The CLI checks use the tiny run folders in tests/fixtures/legacy_runs (copied,
never written to) and its small sources, so no test here trains anything.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import lstmlab
import lstmlab.classify as classify
import lstmlab.forecast as forecast
from lstmlab.cells import CELLS, make_layer
from lstmlab.recurrence import RecurrentProduct
from lstmlab.config import CELLS
from lstmlab.devices import available_devices, mps_available, resolve_device
from lstmlab.errors import LstmlabError
from lstmlab.lm.config import ModelConfig
from lstmlab.lm.model import RecurrentLM

from tests.helpers import TINY

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "legacy_runs"
SOURCES = FIXTURES / "sources"
BALCONY = REPO / "examples" / "balcony.txt"
CLASSIFIER_TEXTS = ["I love this lovely film, it is great.", "The service was rude and the food was awful."]


def when_absent(device: str) -> pytest.MarkDecorator:
    """Run only where `device` (cuda or mps) is not on this machine."""
    here = torch.cuda.is_available() if device == "cuda" else mps_available()
    return pytest.mark.skipif(here, reason=f"{device} is here")


# Devices that are not on this machine: asking for them must fail in one line.
ABSENT = [pytest.param(d, marks=when_absent(d)) for d in ("cuda", "mps")]


# ---------------------------------------------------------------------------
# resolve_device
# ---------------------------------------------------------------------------


def test_cpu_is_always_here():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert "cpu" in available_devices()


@pytest.mark.skipif(torch.cuda.is_available() or mps_available(), reason="a GPU is here: auto picks it")
def test_auto_is_the_cpu_without_a_gpu():
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")


@pytest.mark.parametrize("name", [pytest.param(name, marks=when_absent(name.split(":")[0]))
                                  for name in ("cuda", "cuda:1", "mps")])
def test_an_absent_device_is_a_one_line_error_naming_the_devices_here(name):
    with pytest.raises(LstmlabError) as caught:
        resolve_device(name)
    message = str(caught.value)
    assert "\n" not in message and name in message
    assert f"devices here: {', '.join(available_devices())}" in message


@pytest.mark.parametrize("name", ["gpu0", "tpu", "cuda:x", "cpu:cuda", "meta", "-1"])
def test_a_nonsense_device_is_an_error(name):
    with pytest.raises(LstmlabError) as caught:
        resolve_device(name)
    assert "\n" not in str(caught.value) and "--device" in str(caught.value)


# ---------------------------------------------------------------------------
# Every command that runs a model: --device DEVICE
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """Copies of the legacy char LM, classifier and forecaster (backtest writes into its run)."""
    root = tmp_path_factory.mktemp("device_runs")
    for name in ("char_lm", "classifier", "forecaster"):
        shutil.copytree(FIXTURES / name, root / name)
    return root


def running_commands(runs: Path, out: Path) -> dict[str, list]:
    """Each command that runs a trained model, ready to run but for --device."""
    return {
        "generate": ["generate", runs / "char_lm", "--prompt", "ROMEO:", "--length", "20", "--seed", "1"],
        "evaluate": ["evaluate", runs / "char_lm", BALCONY],
        "inspect": ["inspect", runs / "char_lm", "--text", "O Romeo, Romeo!", "--out", out / "page.html"],
        "classify evaluate": ["classify", "evaluate", runs / "classifier", SOURCES / "sentiment.csv",
                              "--png", out / "confusion.png"],
        "classify predict": ["classify", "predict", runs / "classifier", *CLASSIFIER_TEXTS],
        "forecast backtest": ["forecast", "backtest", runs / "forecaster"],
        "forecast predict": ["forecast", "predict", runs / "forecaster", "--out", out / "forecast.csv"],
    }


def training_commands(out: Path) -> dict[str, list]:
    return {
        "train": ["train", BALCONY, "--out", out / "lm", "--steps", "1", *TINY],
        "classify train": ["classify", "train", SOURCES / "sentiment.csv", "--out", out / "clf", "--steps", "1",
                           "--no-progress"],
        "forecast train": ["forecast", "train", SOURCES / "monthly.csv", "--out", out / "fc", "--steps", "1",
                           "--no-progress"],
    }


RUNNING = ("generate", "evaluate", "inspect", "classify evaluate", "classify predict", "forecast backtest",
           "forecast predict")
TRAINING = ("train", "classify train", "forecast train")


def assert_one_line_device_error(result, device: str) -> None:
    code, out, err = result
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, out, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"--device {device}" in lines[0] and "devices here: cpu" in lines[0], lines[0]


@pytest.mark.parametrize("command", RUNNING)
def test_every_running_command_runs_on_the_cpu_when_asked(cli, runs, tmp_path, command):
    code, out, err = cli(*running_commands(runs, tmp_path)[command], "--device", "cpu")
    assert code == 0, err
    assert out.strip()


@pytest.mark.parametrize("device", ABSENT)
@pytest.mark.parametrize("command", RUNNING)
def test_a_running_command_on_an_absent_device_fails_in_one_line(cli, runs, tmp_path, command, device):
    assert_one_line_device_error(cli(*running_commands(runs, tmp_path)[command], "--device", device), device)


@pytest.mark.parametrize("device", ABSENT)
@pytest.mark.parametrize("command", TRAINING)
def test_a_training_command_on_an_absent_device_fails_in_one_line_and_writes_nothing(cli, tmp_path, command, device):
    assert_one_line_device_error(cli(*training_commands(tmp_path)[command], "--device", device), device)
    assert not any((tmp_path / name).exists() for name in ("lm", "clf", "fc"))


@pytest.mark.parametrize("device", ABSENT)
def test_loading_onto_an_absent_device_fails_before_reading_the_run(device):
    """The device is the first thing checked: the error names it, not the missing folder."""
    for load in (lstmlab.load, classify.load, forecast.load):
        with pytest.raises(LstmlabError, match=f"--device {device}"):
            load(FIXTURES / "no-such-run", device=device)


def test_load_puts_every_model_on_the_device_asked_for():
    assert lstmlab.load(FIXTURES / "char_lm", device="cpu").model.device == torch.device("cpu")
    assert classify.load(FIXTURES / "classifier", device=None).model.device == resolve_device("auto")
    assert forecast.load(FIXTURES / "forecaster", device="cpu").model.device == torch.device("cpu")


# ---------------------------------------------------------------------------
# On a CUDA GPU (marked gpu: skipped, with the reason, where there is none)
# ---------------------------------------------------------------------------


def _layer_and_input(cell: str, dtype: torch.dtype, batch: int = 3, steps: int = 7, inputs: int = 6, hidden: int = 10):
    torch.manual_seed(0)
    layer = make_layer(cell, inputs, hidden).to(dtype)
    with torch.no_grad():  # non-trivial peepholes and norms, not their zero/one starting values
        for p in layer.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(batch, steps, inputs, dtype=dtype)
    state = tuple(torch.randn(1, batch, hidden, dtype=dtype) for _ in range(2 if CELLS[cell].has_cell_state() else 1))
    weights = torch.randn(batch, steps, hidden, dtype=dtype)
    return layer, x, state, weights


def _forward_backward(layer, x, state, weights, autocast: bool = False):
    """Outputs, final state and the gradients of every parameter, the input and the initial state."""
    layer.zero_grad()
    x = x.clone().requires_grad_()
    state = tuple(s.clone().requires_grad_() for s in state)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=autocast):
        out, new_state = layer(x, state if len(state) > 1 else state[0])
    new_state = new_state if isinstance(new_state, tuple) else (new_state,)
    loss = (out.float() * weights).sum() + sum((s.float() * 0.7).sum() for s in new_state)
    loss.backward()
    grads = [x.grad, *(s.grad for s in state), *(p.grad for p in layer.parameters())]
    return [t.detach().cpu() for t in (out, *new_state, *grads)]


@pytest.fixture
def exact_cuda(monkeypatch):
    """cuDNN and cuBLAS in full float32 (no TF32), so the GPU's sums are the CPU's to rounding."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_computes_on_cuda_what_it_computes_on_the_cpu(cell, dtype, tol, exact_cuda):
    layer, x, state, weights = _layer_and_input(cell, dtype)
    on_cpu = _forward_backward(layer, x, state, weights)
    gpu_layer = copy.deepcopy(layer).cuda()
    on_gpu = _forward_backward(gpu_layer, x.cuda(), tuple(s.cuda() for s in state), weights.cuda())
    assert len(on_cpu) == len(on_gpu)
    for i, (c, g) in enumerate(zip(on_cpu, on_gpu)):
        torch.testing.assert_close(g, c, rtol=tol, atol=tol, msg=lambda m: f"{cell}, tensor {i}: {m}")


@pytest.mark.gpu
@pytest.mark.parametrize("cell", ["peephole", "layernorm-lstm"])
def test_the_stepped_cells_train_under_bf16_autocast_on_cuda(cell):
    """On a GPU the recurrent product is a plain (bf16) matmul, never oneDNN's CPU-only
    packed op; the state stays float32 and the result stays close to float32's."""
    torch.manual_seed(0)  # as the CPU's test_extra_cells_train_under_bf16_autocast: a fresh layer
    layer = make_layer(cell, 16, 32).cuda()
    x, weights = torch.randn(4, 20, 16, device="cuda"), torch.randn(4, 20, 32, device="cuda")
    state = tuple(torch.zeros(1, 4, 32, device="cuda") for _ in range(2))
    assert RecurrentProduct(layer.weight_hh, torch.float32, 4).packed is None
    exact = _forward_backward(layer, x, state, weights)
    fast = _forward_backward(layer, x, state, weights, autocast=True)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        _, (h, c) = layer(x, state)
    assert c.dtype == torch.float32
    # The CPU's test allows 0.05 and sees 0.042 for layernorm-lstm: room here for cuBLAS's own rounding.
    assert (fast[0].float() - exact[0]).abs().max() < 0.08
    assert all(torch.isfinite(g).all() for g in fast[3:])
    for f, e in zip(fast[3:], exact[3:]):  # every gradient near float32's, relative to its size
        assert (f.float() - e).abs().max() <= 0.1 * e.abs().max() + 1e-3


@pytest.mark.gpu
@pytest.mark.parametrize("name, prompt", [("char_lm", "ROMEO:"), ("word_lm", "O Romeo")])
def test_a_model_trained_on_the_cpu_writes_the_same_greedy_text_on_cuda(name, prompt, exact_cuda):
    on_cpu = lstmlab.load(FIXTURES / name, device="cpu")
    on_gpu = lstmlab.load(FIXTURES / name, device="cuda")
    assert on_gpu.model.device.type == "cuda"
    assert on_gpu.generate(prompt, length=120, temperature=0) == on_cpu.generate(prompt, length=120, temperature=0)
    if name == "char_lm":
        text = "O Romeo, Romeo! wherefore art thou Romeo?"
        assert on_gpu.evaluate(text).nats_per_char == pytest.approx(on_cpu.evaluate(text).nats_per_char, rel=1e-5)
        assert on_gpu.next_char_probs(prompt) == pytest.approx(on_cpu.next_char_probs(prompt), abs=1e-6)
        gpu_page, cpu_page = on_gpu.inspect(text), on_cpu.inspect(text)
        np.testing.assert_allclose(gpu_page.probs, cpu_page.probs, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("batch", [1, 8])
def test_generation_on_cuda_at_batch_1_and_8(cell, batch, exact_cuda):
    torch.manual_seed(1)
    model = RecurrentLM(ModelConfig(vocab_size=15, cell=cell, hidden_sizes=(32, 24), embed_dim=8)).eval()
    prompt = torch.randint(1, 15, (batch, 4))
    cpu = np.stack(list(model.generate(prompt, 30, temperature=0, stepper="torch")), axis=1)
    model.cuda()
    gpu = np.stack(list(model.generate(prompt, 30, temperature=0)), axis=1)  # a CPU prompt, moved by generate
    assert gpu.shape == (batch, 30)
    np.testing.assert_array_equal(gpu, cpu)
    sampled = np.stack(list(model.generate(prompt, 30, temperature=0.8, top_k=5, seed=3, suppress=(0,))), axis=1)
    assert sampled.shape == (batch, 30) and not (sampled == 0).any() and sampled.max() < 15


@pytest.mark.gpu
def test_the_classifier_and_the_forecaster_predict_on_cuda_what_they_predict_on_the_cpu(exact_cuda, monkeypatch):
    monkeypatch.chdir(REPO)  # the legacy classifier names its data relative to the repository root
    clf_cpu, clf_gpu = (classify.load(FIXTURES / "classifier", device=d) for d in ("cpu", "cuda"))
    np.testing.assert_allclose(clf_gpu.predict_proba(CLASSIFIER_TEXTS), clf_cpu.predict_proba(CLASSIFIER_TEXTS),
                               atol=1e-6)
    assert clf_gpu.evaluate().to_dict()["accuracy"] == clf_cpu.evaluate().to_dict()["accuracy"]
    fc_cpu, fc_gpu = (forecast.load(FIXTURES / "forecaster", device=d) for d in ("cpu", "cuda"))
    cpu_frame, gpu_frame = fc_cpu.predict(12), fc_gpu.predict(12)
    for column in ("forecast", "lower", "upper"):
        np.testing.assert_allclose(gpu_frame[column], cpu_frame[column], rtol=1e-5)
    gpu_mae, cpu_mae = (fc.backtest().scores["lstmlab"]["mae"] for fc in (fc_gpu, fc_cpu))
    assert gpu_mae == pytest.approx(cpu_mae, rel=1e-5)
