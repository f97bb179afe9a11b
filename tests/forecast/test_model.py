"""Forecaster: shapes and gradients for every cell x output x distribution, the
naive start, rollout consistency, the Gaussian likelihood, a fit that must
succeed, config checks, and save -> load -> identical predictions."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from lstmlab.config import CELLS
from lstmlab.errors import LstmlabError
from lstmlab.forecast.config import DISTRIBUTIONS, OUTPUTS, ForecasterConfig
from lstmlab.forecast.model import MIN_SCALE, Forecaster

B, L, F = 3, 5, 2  # batch, lookback, features (feature 0 is the target)


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-zero weights everywhere (the head starts at zero, which would stop gradients reaching the layers)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.3)
    return model


def windows(seed: int = 0, horizon: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(B, L, F, generator=generator), torch.randn(B, horizon, generator=generator)


@pytest.mark.parametrize("cell,output,distribution", list(itertools.product(CELLS, OUTPUTS, DISTRIBUTIONS)))
def test_every_kind_builds_and_backpropagates(cell, output, distribution):
    torch.manual_seed(0)
    config = ForecasterConfig(input_size=F, horizon=4, cell=cell, hidden_sizes=(6, 5), dropout=0.1,
                              output=output, distribution=distribution)
    model = randomize(Forecaster(config))
    x, y = windows()
    result = model(x)
    if distribution == "gaussian":
        mean, scale = result
        assert scale.shape == (B, 4) and bool((scale > 0).all())
    else:
        mean = result
    assert mean.shape == (B, 4) and mean.dtype == torch.float32
    model.loss(x, y).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} gets no gradient"
    predicted = model.predict(x)
    assert set(predicted) == ({"mean", "std"} if distribution == "gaussian" else {"mean"})
    assert model.training, "predict must restore training mode"


@pytest.mark.parametrize("cell,output,distribution",
                         [("lstm", "direct", "point"), ("gru", "recursive", "gaussian"), ("peephole", "recursive", "point")])
def test_fresh_residual_model_forecasts_the_last_value(cell, output, distribution):
    config = ForecasterConfig(input_size=F, horizon=4, cell=cell, output=output, distribution=distribution)
    x, _ = windows()
    predicted = Forecaster(config).predict(x)
    assert torch.equal(predicted["mean"], x[:, -1:, 0].expand(B, 4))
    if distribution == "gaussian":
        assert torch.allclose(predicted["std"], torch.full((B, 4), math.log(2) + MIN_SCALE))


def test_without_residual_a_fresh_model_forecasts_zero():
    config = ForecasterConfig(input_size=F, horizon=3, residual=False)
    assert torch.equal(Forecaster(config).predict(windows()[0])["mean"], torch.zeros(B, 3))


@pytest.mark.parametrize("cell", ["lstm", "layernorm-lstm"])
def test_recursive_rollout_steps_equal_one_step_forecasts_of_the_extended_window(cell):
    long = randomize(Forecaster(ForecasterConfig(input_size=F, horizon=3, cell=cell, hidden_sizes=(6, 5),
                                                 output="recursive", distribution="gaussian")))
    short = Forecaster(dataclasses.replace(long.config, horizon=1))
    short.load_state_dict(long.state_dict())  # a recursive head predicts one step whatever the horizon
    x, _ = windows()
    mean, std = long.predict(x).values()
    first = short.predict(x)
    torch.testing.assert_close(mean[:, :1], first["mean"])
    torch.testing.assert_close(std[:, :1], first["std"])
    # Step k is the one-step forecast from the window extended by steps 1..k-1,
    # each with the covariates held at their last value.
    extended = x
    for k in range(1, 3):
        step = torch.cat([mean[:, k - 1 : k], x[:, -1, 1:]], dim=1).unsqueeze(1)  # (B, 1, F)
        extended = torch.cat([extended, step], dim=1)
        torch.testing.assert_close(short.predict(extended)["mean"], mean[:, k : k + 1])


def test_gaussian_loss_is_the_normal_negative_log_likelihood_and_std_is_positive():
    model = randomize(Forecaster(ForecasterConfig(input_size=F, horizon=4, distribution="gaussian")))
    x, y = windows()
    mean, scale = model(x)
    expected = -torch.distributions.Normal(mean, scale).log_prob(y).mean()
    torch.testing.assert_close(model.loss(x, y), expected)
    by_hand = (torch.log(scale) + (y - mean) ** 2 / (2 * scale**2) + 0.5 * math.log(2 * math.pi)).mean()
    torch.testing.assert_close(model.loss(x, y), by_hand)
    with torch.no_grad():
        model.head.bias.fill_(-200.0)  # softplus underflows to 0: the floor must hold
    assert torch.equal(model.predict(x)["std"], torch.full((B, 4), MIN_SCALE))


def sine_windows(start: int, count: int, lookback: int = 24, horizon: int = 6):
    t = torch.arange(start, start + count + lookback + horizon, dtype=torch.float32)
    series = torch.sin(2 * math.pi * t / 20)
    windows = series.unfold(0, lookback + horizon, 1)[:count]  # (count, lookback + horizon)
    return windows[:, :lookback, None], windows[:, lookback:]


@pytest.mark.parametrize("output", OUTPUTS)
def test_a_small_model_learns_a_sine_wave(output):
    torch.manual_seed(0)
    model = Forecaster(ForecasterConfig(input_size=1, horizon=6, hidden_sizes=(16,), output=output))
    x_train, y_train = sine_windows(0, 200)
    x_test, y_test = sine_windows(300, 50)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(200):
        rows = torch.randint(len(x_train), (32,))
        optimizer.zero_grad()
        model.loss(x_train[rows], y_train[rows]).backward()
        optimizer.step()
    mse = ((model.predict(x_test)["mean"] - y_test) ** 2).mean()
    naive = ((x_test[:, -1:, 0] - y_test) ** 2).mean()
    assert mse < naive / 100, f"MSE {mse:.4f} against the naive forecast's {naive:.4f}"


def test_config_round_trips_through_json():
    config = ForecasterConfig(input_size=3, horizon=7, cell="gru", hidden_sizes=(32, 16), dropout=0.1,
                              output="recursive", distribution="gaussian", residual=False)
    raw = json.loads(json.dumps(dataclasses.asdict(config)))
    assert ForecasterConfig(**raw) == config
    assert ForecasterConfig(**raw).hidden_sizes == (32, 16)


@pytest.mark.parametrize("change,flag", [
    ({"input_size": 0}, "input_size"),
    ({"horizon": 0}, "--horizon"),
    ({"cell": "transformer"}, "--cell"),
    ({"hidden_sizes": ()}, "--hidden"),
    ({"hidden_sizes": (8, 0)}, "--hidden"),
    ({"dropout": 1.0}, "--dropout"),
    ({"output": "seq2seq"}, "--output"),
    ({"distribution": "student-t"}, "--distribution"),
    ({"residual": "yes"}, "--residual"),
])
def test_bad_settings_name_the_flag(change, flag):
    with pytest.raises(LstmlabError, match=flag) as error:
        ForecasterConfig(**{"input_size": 1, "horizon": 3, **change})
    assert "\n" not in str(error.value)


def test_safetensors_round_trip_gives_identical_predictions(tmp_path):
    config = ForecasterConfig(input_size=F, horizon=4, cell="peephole", hidden_sizes=(6, 5),
                              output="recursive", distribution="gaussian")
    model = randomize(Forecaster(config))
    save_file(model.state_dict(), tmp_path / "model.safetensors")
    loaded = Forecaster(ForecasterConfig(**json.loads(json.dumps(dataclasses.asdict(config)))))
    loaded.load_state_dict(load_file(tmp_path / "model.safetensors"))
    x, _ = windows(seed=1)
    before, after = model.predict(x), loaded.predict(x)
    assert before.keys() == after.keys()
    for key in before:
        assert torch.equal(before[key], after[key])
