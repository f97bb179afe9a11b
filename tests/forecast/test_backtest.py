"""Baselines, metrics and the walk-forward backtest (lstmlab.backtest): values checked by hand on the
airline passengers series, and origins that never let a forecast see its own future."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from tests.helpers import shared_file

from lstmlab.forecast.backtest import Origin, backtest, baseline_forecasters, drift, infer_season, mae, mape, mase, mase_scale, naive, rmse, rolling_origins, run_baselines, seasonal_naive
from lstmlab.errors import LstmlabError


@pytest.fixture(scope="module")
def passengers() -> np.ndarray:
    with open(shared_file("timeseries/airline-passengers.csv"), newline="") as fh:
        return np.array([float(row["Passengers"]) for row in csv.DictReader(fh)])  # (144,) 1949-01..1960-12


# --- baselines by hand -----------------------------------------------------------------------------
# History: 1949-01 (112) .. 1959-12 (405), 132 months. 1959 opened with 360, 342, 406; 1960 with 417, 391, 419.


def test_naive_repeats_december_1959(passengers):
    assert naive(passengers[:132], 3).tolist() == [405, 405, 405]


def test_seasonal_naive_repeats_the_same_months_of_1959(passengers):
    assert seasonal_naive(passengers[:132], 3, 12).tolist() == [360, 342, 406]
    assert seasonal_naive(passengers[:132], 14, 12)[12:].tolist() == [360, 342]  # past one season it wraps
    with pytest.raises(LstmlabError, match="needs at least 12 past points"):
        seasonal_naive(passengers[:5], 3, 12)


def test_drift_carries_on_the_line_from_first_to_last_month(passengers):
    slope = (405 - 112) / (132 - 1)
    assert drift(passengers[:132], 3) == pytest.approx([405 + slope, 405 + 2 * slope, 405 + 3 * slope])
    assert drift(passengers[:132], 1)[0] == pytest.approx(407.23664, abs=1e-5)


# --- metrics by hand -------------------------------------------------------------------------------


def test_metrics_on_a_tiny_example():
    actual, forecast = [1.0, 2.0, 4.0], [2.0, 2.0, 2.0]  # errors +1, 0, -2
    assert mae(actual, forecast) == pytest.approx(1.0)
    assert rmse(actual, forecast) == pytest.approx(math.sqrt(5 / 3))
    assert mape(actual, forecast) == pytest.approx(100 * (1 / 1 + 0 / 2 + 2 / 4) / 3)  # 50 %
    history = [1.0, 3.0, 2.0, 5.0]
    assert mase_scale(history, 1) == pytest.approx((2 + 1 + 3) / 3)
    assert mase(actual, forecast, history, 1) == pytest.approx(1.0 / 2.0)
    assert mase_scale(history, 2) == pytest.approx((1 + 2) / 2)  # |2-1|, |5-3|
    with pytest.raises(LstmlabError, match="MAPE is undefined.*use MAE or MASE"):
        mape([0.0, 1.0], [1.0, 1.0])
    with pytest.raises(LstmlabError, match="does not change"):
        mase_scale([3.0, 3.0, 3.0], 1)


def test_naive_and_seasonal_naive_errors_for_early_1960_by_hand(passengers):
    actual = passengers[132:135]
    assert actual.tolist() == [417, 391, 419]
    assert mae(actual, naive(passengers[:132], 3)) == pytest.approx((12 + 14 + 14) / 3)
    assert rmse(actual, naive(passengers[:132], 3)) == pytest.approx(math.sqrt((144 + 196 + 196) / 3))
    assert mape(actual, naive(passengers[:132], 3)) == pytest.approx(100 * (12 / 417 + 14 / 391 + 14 / 419) / 3)
    assert mae(actual, seasonal_naive(passengers[:132], 3, 12)) == pytest.approx((57 + 49 + 13) / 3)


def test_mase_matches_hyndmans_definition_written_out(passengers):
    history, m = passengers[:132], 12
    in_sample = [abs(history[t] - history[t - m]) for t in range(m, len(history))]  # seasonal naive, in sample
    scale = sum(in_sample) / len(in_sample)
    forecast = seasonal_naive(history, 12, m)
    actual = passengers[132:144]
    expected = sum(abs(a - f) for a, f in zip(actual, forecast)) / 12 / scale
    assert mase_scale(history, m) == pytest.approx(scale)
    assert mase(actual, forecast, history, m) == pytest.approx(expected)


# --- seasons ---------------------------------------------------------------------------------------


def test_season_from_frequency_or_autocorrelation(passengers):
    assert [infer_season(passengers, f) for f in ("MS", "ME", "QS-JAN", "W-SUN", "D", "B", "h", "YS")] == \
        [12, 12, 4, 52, 7, 5, 24, 1]
    assert infer_season(passengers) == 12  # no frequency: the autocorrelation peak of the monthly changes
    assert infer_season(passengers, "2D") == 12  # an unusual frequency falls back to the autocorrelation
    rng = np.random.default_rng(0)
    assert infer_season(np.cumsum(rng.normal(size=2000))) == 1  # a random walk has no season


# --- origins and the backtest ----------------------------------------------------------------------


def test_rolling_origins_keep_every_forecast_in_the_test_part_and_after_its_history():
    origins = rolling_origins(20, horizon=3, test_size=6)
    assert [o.index for o in origins] == [14, 15, 16, 17]
    for o in origins:
        assert o.history == slice(0, o.index) and o.target == slice(o.index, o.index + 3)
        assert o.history.stop <= o.target.start  # nothing seen is forecast
        assert 14 <= o.target.start and o.target.stop <= 20
    assert [o.index for o in rolling_origins(20, 3, 6, stride=2)] == [14, 16]
    assert [o.index for o in rolling_origins(20, 6, 6)] == [14]
    with pytest.raises(LstmlabError, match="at least one horizon"):
        rolling_origins(20, 7, 6)
    with pytest.raises(LstmlabError, match="leaves no history"):
        rolling_origins(20, 3, 20)
    with pytest.raises(ValueError):
        Origin(0, 3)


def test_a_forecast_sees_exactly_the_points_before_its_origin(passengers):
    seen: list[np.ndarray] = []

    def spy(history, horizon):
        seen.append(history)
        with pytest.raises(ValueError):
            history[-1] = 0.0  # read-only: a forecaster cannot change what later origins see
        return naive(history, horizon)

    result = backtest(passengers, {"spy": spy}, horizon=12, test_size=24, stride=1)
    assert [o.index for o in result.origins] == list(range(120, 133))
    for o, history in zip(result.origins, seen):
        assert len(history) == o.index and np.array_equal(history, passengers[:o.index])
        assert history.base is None or history.base.size == o.index  # a copy: later points are unreachable
        assert np.array_equal(result.actuals[result.origins.index(o)], passengers[o.index:o.index + 12])


def test_baselines_share_origins_and_match_the_hand_numbers(passengers):
    one = backtest(passengers[:135], baseline_forecasters(12), horizon=3, test_size=3, mase_lag=12)
    assert [o.index for o in one.origins] == [132]
    assert one.forecasts["naive"].tolist() == [[405, 405, 405]]
    assert one.forecasts["seasonal naive (m=12)"].tolist() == [[360, 342, 406]]
    assert one.scores["naive"]["mae"] == pytest.approx(40 / 3)
    assert one.scores["seasonal naive (m=12)"]["mae"] == pytest.approx(119 / 3)
    assert one.scores["naive"]["mase"] == pytest.approx((40 / 3) / mase_scale(passengers[:132], 12))

    result = run_baselines(passengers, horizon=12, test_size=24, frequency="MS")
    assert set(result.forecasts) == {"naive", "seasonal naive (m=12)", "drift"} and result.mase_lag == 12
    for name, forecast in result.forecasts.items():
        assert forecast.shape == (13, 12)
        assert result.scores[name]["mae"] == pytest.approx(np.mean(np.abs(forecast - result.actuals)))
    # On a strongly seasonal series the seasonal naive forecast beats the other two.
    assert result.scores["seasonal naive (m=12)"]["mae"] < min(result.scores["naive"]["mae"], result.scores["drift"]["mae"])
    assert result.table().count("\n") == 4  # header, rule and one row per method


def test_another_forecaster_joins_the_same_table(passengers):
    def mean_of_last_year(history, horizon):
        return np.full(horizon, history[-12:].mean())

    methods = {**baseline_forecasters(12), "lstm stand-in": mean_of_last_year}
    result = backtest(passengers, methods, horizon=6, test_size=12, stride=6, mase_lag=12)
    assert [o.index for o in result.origins] == [132, 138]
    assert list(result.scores) == ["naive", "seasonal naive (m=12)", "drift", "lstm stand-in"]
    assert "| lstm stand-in |" in result.table()
