"""Baseline forecasts, forecast metrics and the walk-forward (rolling-origin) backtest.

NumPy only, on one series of levels in original units. A forecaster is any
function `(history (T,), horizon) -> forecast (horizon,)`; the three baselines
below are such functions, and a trained network wrapped in one is scored by
`backtest` over the very same origins, so its row sits beside theirs.

    series:    0 ............................ n-test_size ................. n-1
    origins:                                  o0   o1   o2 ...   (stride apart)
    origin o:  history = series[:o]  |  forecast = series[o:o+horizon]

Each forecaster is handed a copy of series[:o] and nothing else, so no forecast
can see its own future (or any later point).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import LstmlabError

# A forecast as the backtest calls it: (the history up to an origin, horizon) -> the next `horizon` values.
ForecastFunction = Callable[[np.ndarray, int], np.ndarray]
METRICS = ("mae", "rmse", "mape", "mase")
MIN_SEASONAL_ACF = 0.3
# Seasonal period of common pandas frequency aliases (the part before any "-"):
# a year of months or quarters, a week of days or business days, a day of hours.
SEASON_OF_FREQUENCY = {
    **dict.fromkeys(("M", "MS", "ME", "BM", "BMS", "BME", "SM", "SMS", "SME"), 12),
    **dict.fromkeys(("Q", "QS", "QE", "BQ", "BQS", "BQE"), 4),
    **dict.fromkeys(("W",), 52),
    **dict.fromkeys(("D",), 7),
    **dict.fromkeys(("B", "C"), 5),
    **dict.fromkeys(("H", "h", "BH", "bh"), 24),
    **dict.fromkeys(("A", "AS", "Y", "YS", "YE", "BA", "BY", "BYS", "BYE"), 1),
}


# ---------------------------------------------------------------------------
# Baselines
# ---------------------------------------------------------------------------


def naive(history: np.ndarray, horizon: int) -> np.ndarray:
    """Every step repeats the last value seen."""
    return np.full(horizon, float(history[-1]))


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Step k (0-based) repeats the value one season before it: history[T - season + k % season]."""
    history = np.asarray(history, dtype=np.float64)
    if len(history) < season:
        raise LstmlabError(f"seasonal naive with season {season} needs at least {season} past points, got {len(history)}; "
                           "pass a shorter --season or give more history")
    k = np.arange(horizon)
    return history[len(history) - season + k % season]


def drift(history: np.ndarray, horizon: int) -> np.ndarray:
    """The line through the first and the last points, carried on: y_T + k * (y_T - y_1) / (T - 1), k = 1..H."""
    history = np.asarray(history, dtype=np.float64)
    slope = (history[-1] - history[0]) / (len(history) - 1) if len(history) > 1 else 0.0
    return history[-1] + slope * np.arange(1, horizon + 1)


def baseline_forecasters(season: int) -> dict[str, ForecastFunction]:
    """The three baselines as forecasters, in table order."""
    return {"naive": naive, f"seasonal naive (m={season})": lambda h, n: seasonal_naive(h, n, season), "drift": drift}


def infer_season(series: np.ndarray, frequency: str | None = None, max_lag: int = 400) -> int:
    """The seasonal period m: from the frequency when it is a common one (monthly 12, quarterly 4,
    weekly 52, daily 7, business days 5, hourly 24, yearly 1), otherwise from the autocorrelation.

    Daily data get 7, not 365: a weekly cycle is the one a short horizon can use, and a
    yearly one needs years of history at every origin; pass the season to choose 365.
    The fallback takes the lag (2..max_lag) of the highest autocorrelation peak of the
    first differences (differencing removes a trend that would make every lag look alike),
    if that peak reaches 0.3, a clear cycle (in long series 2/sqrt(n) is so small that noise
    passes it: S&P 500 returns peak at 0.04); 1 (no season) otherwise.
    """
    if frequency:
        match = re.fullmatch(r"(\d*)([A-Za-z]+)(-\w+)?", frequency.strip())
        if match and match.group(1) in ("", "1") and match.group(2) in SEASON_OF_FREQUENCY:
            return SEASON_OF_FREQUENCY[match.group(2)]
    x = np.diff(np.asarray(series, dtype=np.float64))
    n = len(x)
    if n < 8:
        return 1
    x = x - x.mean()
    denominator = float(x @ x)
    if denominator == 0:
        return 1
    lags = np.arange(1, min(max_lag, n // 2) + 1)
    acf = np.array([float(x[:-lag] @ x[lag:]) / denominator for lag in lags])
    peaks = [i for i in range(1, len(lags) - 1) if acf[i] > acf[i - 1] and acf[i] >= acf[i + 1] and acf[i] >= MIN_SEASONAL_ACF]
    return int(lags[max(peaks, key=lambda i: acf[i])]) if peaks else 1


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------


def _errors(actual, forecast) -> tuple[np.ndarray, np.ndarray]:
    actual, forecast = np.asarray(actual, dtype=np.float64), np.asarray(forecast, dtype=np.float64)
    if actual.shape != forecast.shape:
        raise ValueError(f"actual {actual.shape} and forecast {forecast.shape} differ in shape")
    return actual, forecast - actual


def mae(actual, forecast) -> float:
    return float(np.mean(np.abs(_errors(actual, forecast)[1])))


def rmse(actual, forecast) -> float:
    return float(np.sqrt(np.mean(_errors(actual, forecast)[1] ** 2)))


def mape(actual, forecast) -> float:
    """Mean absolute percentage error, in percent (100 * mean |error / actual|)."""
    actual, error = _errors(actual, forecast)
    if (actual == 0).any():
        raise LstmlabError(f"MAPE is undefined: {int((actual == 0).sum())} actual value(s) are 0; use MAE or MASE instead")
    return float(100.0 * np.mean(np.abs(error / actual)))


def mase_scale(history, m: int = 1) -> float:
    """In-sample MAE of the seasonal naive forecast with lag m: mean |y_t - y_{t-m}| over the history (Hyndman 2006)."""
    history = np.asarray(history, dtype=np.float64)
    if len(history) <= m:
        raise LstmlabError(f"MASE with lag m={m} needs more than {m} points of training history, got {len(history)}")
    scale = float(np.mean(np.abs(history[m:] - history[:-m])))
    if scale == 0:
        raise LstmlabError(f"MASE is undefined: the training history does not change over lag m={m}; use MAE instead")
    return scale


def mase(actual, forecast, history, m: int = 1) -> float:
    """Mean absolute scaled error: MAE of the forecast / mase_scale(history, m). Below 1 beats
    the in-sample seasonal naive forecast."""
    return mae(actual, forecast) / mase_scale(history, m)


# ---------------------------------------------------------------------------
# Walk-forward backtest
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Origin:
    """One forecast of a backtest: it sees series[history] and is scored on series[target]."""

    index: int  # the first forecast step; also the number of points the forecast may see
    horizon: int

    def __post_init__(self) -> None:
        if self.index < 1 or self.horizon < 1:
            raise ValueError(f"an origin needs at least one point of history and a horizon of 1 or more, got {self}")

    @property
    def history(self) -> slice:
        return slice(0, self.index)

    @property
    def target(self) -> slice:
        return slice(self.index, self.index + self.horizon)


def rolling_origins(n: int, horizon: int, test_size: int, stride: int = 1) -> list[Origin]:
    """Origins n-test_size, n-test_size+stride, ... up to n-horizon: every forecast window lies
    inside the last test_size points, and each forecast sees only the points before its origin."""
    if not 1 <= horizon <= test_size:
        raise LstmlabError(f"the backtest's test part ({test_size} points) must hold at least one horizon ({horizon}); "
                           "lower --horizon or raise the test fraction")
    if test_size >= n:
        raise LstmlabError(f"the backtest's test part ({test_size} points) leaves no history in a series of {n}; "
                           "lower the test fraction")
    if stride < 1:
        raise LstmlabError(f"--stride must be at least 1, got {stride}")
    return [Origin(o, horizon) for o in range(n - test_size, n - horizon + 1, stride)]


@dataclass(frozen=True)
class BacktestResult:
    """Forecasts and scores of several methods over the same origins."""

    origins: list[Origin]
    actuals: np.ndarray  # (O, H)
    forecasts: dict[str, np.ndarray]  # method -> (O, H)
    scores: dict[str, dict[str, float]]  # method -> metric -> value (nan when undefined)
    mase_lag: int
    notes: tuple[str, ...] = field(default=())

    def table(self) -> str:
        """A Markdown table, one row per method."""
        lines = ["| method | MAE | RMSE | MAPE % | MASE |", "|---|---:|---:|---:|---:|"]
        for method, s in self.scores.items():
            lines.append(f"| {method} | {s['mae']:.4g} | {s['rmse']:.4g} | {s['mape']:.3g} | {s['mase']:.3f} |")
        return "\n".join(lines)


def backtest(series: np.ndarray, forecasters: dict[str, ForecastFunction], horizon: int, test_size: int,
             stride: int = 1, mase_lag: int = 1) -> BacktestResult:
    """Run every forecaster at every origin of rolling_origins(len(series), ...).

    Errors are pooled over all origins and steps. MASE divides the pooled MAE by one
    scale, mase_scale of the points before the first origin (the training history),
    so every origin and every method is divided by the same number.
    """
    series = np.asarray(series, dtype=np.float64)  # (n,)
    origins = rolling_origins(len(series), horizon, test_size, stride)
    actuals = np.stack([series[o.target] for o in origins])  # (O, H)
    forecasts = {}
    for name, forecaster in forecasters.items():
        rows = []
        for o in origins:
            seen = series[o.history].copy()  # a copy: nothing after the origin is reachable from it
            seen.flags.writeable = False
            forecast = np.asarray(forecaster(seen, horizon), dtype=np.float64).reshape(-1)
            if forecast.shape != (horizon,):
                raise ValueError(f"forecaster {name!r} returned {forecast.shape[0]} values for horizon {horizon}")
            rows.append(forecast)
        forecasts[name] = np.stack(rows)  # (O, H)
    scale = mase_scale(series[:origins[0].index], mase_lag)
    notes = []
    if (actuals == 0).any():
        notes.append("MAPE is left out (nan): some actual values are 0")
    scores = {}
    for name, forecast in forecasts.items():
        error = mae(actuals, forecast)
        scores[name] = {"mae": error, "rmse": rmse(actuals, forecast),
                        "mape": float("nan") if notes else mape(actuals, forecast), "mase": error / scale}
    return BacktestResult(origins, actuals, forecasts, scores, mase_lag, tuple(notes))


def run_baselines(series: np.ndarray, horizon: int, test_size: int, stride: int = 1,
                  season: int | None = None, frequency: str | None = None) -> BacktestResult:
    """Backtest naive, seasonal naive and drift; season inferred (from the training part) when not given.
    MASE uses the seasonal lag, as Hyndman's definition does for seasonal series."""
    if season is None:
        season = infer_season(np.asarray(series)[:len(series) - test_size], frequency)
    return backtest(series, baseline_forecasters(season), horizon, test_size, stride, mase_lag=season)
