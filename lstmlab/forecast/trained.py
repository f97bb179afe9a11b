"""A trained forecaster: its run folder, backtest, forecasts and plots.

    run = lstmlab.forecast.load("runs/air")
    run.backtest().table()                    # the network beside naive, seasonal naive and drift
    run.predict(steps=12)                     # DataFrame: date, forecast (and lower, upper)

A run folder holds config.json (ForecastRunConfig), scaler.json (fitted on the
training part only), series.csv (the series as read: dates, target, features,
missing values already handled, so a run forecasts without its source file),
model.safetensors (best weights), checkpoint.safetensors (last state,
resumable), metrics.jsonl, training.png, and the backtest's report.json and
backtest.png. Training lives in train.py.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
import torch

from .. import checkpoint
from ..checkpoint import PathLike
from ..config import require
from ..devices import resolve_device
from ..errors import LstmlabError
from ..plots import plot_backtest, plot_forecast
from .backtest import BacktestResult, backtest as run_backtest, baseline_forecasters, infer_season
from .config import ForecastRunConfig
from .model import Forecaster
from .series import LoadedSeries, PreparedSeries, load_series
from .windows import Scaler, invert_transform

SERIES_FILE = "series.csv"
SCALER_FILE = "scaler.json"
REPORT_FILE = "report.json"
BACKTEST_PNG = "backtest.png"
TRAINING_PNG = "training.png"
NETWORK = "lstmlab"  # the network's row in backtest tables

# Two-sided prediction interval drawn and written by default.
DEFAULT_INTERVAL = 0.9


# ---------------------------------------------------------------------------
# A trained forecaster
# ---------------------------------------------------------------------------


class ForecastRun:
    """A trained run: its config, the series it learnt from, the scaler and the best weights."""

    def __init__(self, run_dir: Path, config: ForecastRunConfig, loaded: LoadedSeries, scaler: Scaler, model: Forecaster):
        self.run_dir, self.config, self.loaded, self.model = run_dir, config, loaded, model
        self.prepared = PreparedSeries(loaded, scaler, scaler.transform(loaded.model_values).astype(np.float32))
        self.report: Optional[dict] = None

    @property
    def frame(self) -> pd.DataFrame:
        return self.loaded.frame

    def _forecast_rows(self, model_values: np.ndarray, targets: np.ndarray) -> dict[str, np.ndarray]:
        """Forecasts for windows whose first target is model row t, for each t in `targets` (N,):
        the network reads scaled rows [t - lookback, t). Returns mean (N, H) and, for a gaussian
        model, std (N, H), in scaled units."""
        L = self.config.data.lookback
        x = np.stack([model_values[t - L:t] for t in targets]).astype(np.float32)  # (N, L, F)
        out = self.model.predict(torch.from_numpy(x))
        return {k: v.double().numpy() for k, v in out.items()}

    def network_forecaster(self):
        """The network as a backtest forecaster: from a history of n levels it reads only rows
        before n of the stored series (features included), and forecasts the next horizon levels."""
        lost, levels = self.loaded.lost, self.loaded.levels

        def forecast(history: np.ndarray, horizon: int) -> np.ndarray:
            n = len(history)
            assert np.array_equal(history, levels[:n, 0]), "the backtest series must be the run's own"
            values = self.prepared.values[:n - lost]  # the model rows known at the origin
            t = n - lost
            mean = self._forecast_rows(values, np.array([t]))["mean"]
            return self.prepared.to_levels(mean, np.array([t]))[0, :horizon]

        return forecast

    def backtest(self, stride: Optional[int] = None, season: Optional[int] = None) -> "Backtest":
        """Walk-forward backtest over the test part: the network and the baselines forecast
        from every origin (stride apart) with the same history, scored in original units."""
        cfg = self.config
        stride = stride or cfg.backtest.stride
        series = self.loaded.levels[:, 0]
        test_size = self.loaded.splits.test
        if test_size < cfg.data.horizon:
            raise LstmlabError(f"the test part has {test_size} points, fewer than the horizon {cfg.data.horizon}; "
                               "retrain with a larger --test-fraction")
        season = season or cfg.backtest.season or infer_season(series[:len(series) - test_size], self.loaded.frequency)
        baselines = baseline_forecasters(season)
        if season == 1:  # seasonal naive with a period of 1 is the naive forecast: one row is enough
            baselines = {name: f for name, f in baselines.items() if not name.startswith("seasonal")}
        forecasters = {NETWORK: self.network_forecaster(), **baselines}
        result = run_backtest(series, forecasters, cfg.data.horizon, test_size, stride, mase_lag=season)
        coverage = self._interval_coverage(result, DEFAULT_INTERVAL) if cfg.model.distribution == "gaussian" else None
        return Backtest(result, season, self.frame.index, coverage)

    def _interval_coverage(self, result: BacktestResult, interval: float) -> dict[str, Any]:
        """How often the actual values fell inside the gaussian model's central `interval`,
        from the same origins as the backtest: a calibrated 90% interval covers about 90%.
        Also returns the bounds themselves, (O, H) each, for the plot."""
        lost, levels, z = self.loaded.lost, self.loaded.levels[:, 0], _normal_quantile(0.5 + interval / 2)
        lows, highs = [], []
        for origin in result.origins:
            t = origin.index - lost  # the first forecast's model row; the network reads only rows before it
            out = self._forecast_rows(self.prepared.values[:t], np.array([t]))
            low, high = self._interval(out["mean"][0], out["std"][0], levels[origin.index - 1], z)
            lows.append(low)
            highs.append(high)
        lower, upper, actual = np.stack(lows), np.stack(highs), result.actuals  # (O, H) each
        return {"interval": interval, "coverage": float(((actual >= lower) & (actual <= upper)).mean()),
                "mean_width": float((upper - lower).mean()), "lower": lower, "upper": upper}

    def plot_backtest(self, result: "Backtest", out: Path) -> None:
        """The network's backtest forecasts beside the best baseline's (by MAE), every horizon apart."""
        scores = result.scores
        best = min((name for name in scores if name != NETWORK), key=lambda name: scores[name]["mae"])
        forecasts = {f"{NETWORK} (MAE {scores[NETWORK]['mae']:.4g})": result.result.forecasts[NETWORK],
                     f"{best} (MAE {scores[best]['mae']:.4g})": result.result.forecasts[best]}
        H = self.config.data.horizon
        bands = None
        if result.coverage:
            c = result.coverage
            bands = (c["lower"], c["upper"], f"{NETWORK} {c['interval']:.0%} interval (held {c['coverage']:.0%})")
        plot_backtest(self.frame.index, self.loaded.levels[:, 0], forecasts, [o.index for o in result.origins], H, out,
                      title=f"{self.loaded.target}: walk-forward backtest, horizon {H}", history=max(4 * H, 60),
                      bands=bands)

    def plot_predictions(self, predictions: pd.DataFrame, out: Path, interval: float = DEFAULT_INTERVAL) -> None:
        """History and a `predict` frame, with its interval when it has one."""
        H = self.config.data.horizon
        plot_forecast(self.frame.index, self.loaded.levels[:, 0], predictions.iloc[:, 0], predictions["forecast"],
                      predictions.get("lower"), predictions.get("upper"), out,
                      title=f"{self.loaded.target}: forecast of {len(predictions)} steps", interval=interval,
                      history=max(4 * H, 3 * len(predictions), 60))

    def predict(self, steps: Optional[int] = None, interval: float = DEFAULT_INTERVAL) -> pd.DataFrame:
        """Forecast `steps` points (default: the horizon) from the end of the series.
        Columns: date (or step), forecast, and lower/upper for a gaussian model (the
        central `interval` of each step's predictive distribution). Beyond the horizon
        the forecast is rolled forward: its own means are read as the next inputs
        (covariates held at their last value), and no interval is given there."""
        H = self.config.data.horizon
        steps = steps or H
        require(steps >= 1, f"--steps must be at least 1, got {steps}")
        require(0.0 < interval < 1.0, f"--interval must be between 0 and 1 (e.g. 0.9), got {interval}")
        values = self.prepared.values.copy()  # (T', F) scaled model values
        levels = self.loaded.levels[:, 0].copy()
        means, lowers, uppers = [], [], []
        z = _normal_quantile(0.5 + interval / 2)
        while sum(len(m) for m in means) < steps:
            out = self._forecast_rows(values, np.array([len(values)]))
            mean_scaled = out["mean"][0]  # (H,)
            block = self._to_levels(mean_scaled, levels[-1])
            first_block = not means
            if "std" in out and first_block:
                low, high = self._interval(mean_scaled, out["std"][0], levels[-1], z)
            else:
                low = high = np.full(H, np.nan)
            means.append(block)
            lowers.append(low)
            uppers.append(high)
            # Roll forward: the forecast becomes history; covariates keep their last scaled value.
            new_rows = np.repeat(values[-1:], H, axis=0)
            new_rows[:, 0] = mean_scaled
            values = np.vstack([values, new_rows.astype(values.dtype)])
            levels = np.concatenate([levels, block])
        frame = pd.DataFrame({self._index_name(): self._future_index(steps),
                              "forecast": np.concatenate(means)[:steps]})
        if self.config.model.distribution == "gaussian":
            frame["lower"] = np.concatenate(lowers)[:steps]
            frame["upper"] = np.concatenate(uppers)[:steps]
        return frame

    def _to_levels(self, mean_scaled: np.ndarray, last_level: float) -> np.ndarray:
        unscaled = self.prepared.scaler.inverse(mean_scaled, column=0)
        return invert_transform(unscaled, self.config.data.transform, np.array(last_level))

    def _interval(self, mean_scaled, std_scaled, last_level: float, z: float) -> tuple[np.ndarray, np.ndarray]:
        """Per-step bounds in levels. The head's std is in scaled, transformed units; for
        differences, the level's variance after h steps is the sum of the first h steps'
        variances (the steps' errors are taken as independent)."""
        kind, scaler = self.config.data.transform, self.prepared.scaler
        mean = scaler.inverse(mean_scaled, column=0)  # transformed units
        std = std_scaled * scaler.std[0]
        if kind in ("diff", "log-diff"):
            centre = np.log(last_level) + np.cumsum(mean) if kind == "log-diff" else last_level + np.cumsum(mean)
            spread = z * np.sqrt(np.cumsum(std ** 2))
        else:
            centre, spread = mean, z * std
        low, high = centre - spread, centre + spread
        if kind in ("log", "log-diff"):
            return np.exp(low), np.exp(high)
        return low, high

    def _index_name(self) -> str:
        return "date" if isinstance(self.frame.index, pd.DatetimeIndex) else "step"

    def _future_index(self, steps: int):
        index = self.frame.index
        if isinstance(index, pd.DatetimeIndex) and self.loaded.frequency:
            return pd.date_range(index[-1], periods=steps + 1, freq=self.loaded.frequency)[1:]
        return np.arange(len(index), len(index) + steps)


@dataclass(frozen=True)
class Backtest:
    """A backtest's scores, with the season used and the dates of the origins."""

    result: BacktestResult
    season: int
    index: pd.Index
    # A gaussian model's interval, scored: {"interval": 0.9, "coverage": share inside, "mean_width": in levels,
    # "lower", "upper": the bounds (O, H)}.
    coverage: Optional[dict[str, Any]] = None

    @property
    def origins(self):
        return self.result.origins

    @property
    def scores(self) -> dict[str, dict[str, float]]:
        return self.result.scores

    def table(self) -> str:
        return self.result.table()

    def notes_text(self) -> str:
        o = self.result.origins
        first, last = self.index[o[0].index], self.index[o[-1].index]
        when = f"origins {_when(first)} .. {_when(last)}"
        parts = [when, f"seasonal naive and MASE with season {self.season}", *self.result.notes]
        if self.coverage:
            c = self.coverage
            parts.append(f"the {c['interval']:.0%} intervals held {c['coverage']:.1%} of the actual values "
                         f"(mean width {c['mean_width']:.4g})")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {"origins": len(self.result.origins), "first_origin": _when(self.index[self.result.origins[0].index]),
                "season": self.season, "mase_lag": self.result.mase_lag, "scores": self.result.scores,
                "notes": list(self.result.notes),
                **({"intervals": {k: self.coverage[k] for k in ("interval", "coverage", "mean_width")}}
                   if self.coverage else {})}


def _when(moment) -> str:
    return str(moment.date()) if hasattr(moment, "date") else str(moment)


def _normal_quantile(p: float) -> float:
    return float(torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(p, dtype=torch.float64)))


def open_run(run_dir: Path, device: Optional[str] = "auto") -> ForecastRun:
    """A run folder's parts, with whatever weights the model was built with (not loaded),
    the model on `device`: auto (None too) picks cuda, then mps, then cpu; or cpu, cuda, cuda:N, mps."""
    where = resolve_device(device)  # first: a device that is not here is the error to report
    if not run_dir.is_dir():
        raise LstmlabError(f"no such run folder: {run_dir}; train one with: lstmlab forecast train SERIES.csv --out {run_dir}")
    config = ForecastRunConfig.load(run_dir / "config.json")
    series_path = run_dir / SERIES_FILE
    if not series_path.is_file():
        raise LstmlabError(f"{series_path} is missing; restore the run's files or retrain")
    loaded = load_series(dataclasses.replace(config.data, source=str(series_path), missing="error"))
    loaded = dataclasses.replace(loaded, source=config.data.source)
    try:
        scaler = Scaler.from_dict(json.loads((run_dir / SCALER_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LstmlabError(f"{run_dir / SCALER_FILE} is missing or damaged ({exc}); restore it or retrain the run") from None
    return ForecastRun(run_dir, config, loaded, scaler, Forecaster(config.model).to(where))


def load(run_dir: PathLike, device: Optional[str] = "auto") -> ForecastRun:
    """Load a forecasting run folder (config.json, series.csv, scaler.json, model.safetensors)
    onto `device` (see open_run)."""
    run = open_run(Path(run_dir), device)
    checkpoint.load_weights(run.model, run.run_dir / checkpoint.BEST)
    run.model.eval()
    return run
