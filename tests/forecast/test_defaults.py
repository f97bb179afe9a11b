"""Defaults chosen from the series: transform, horizon and lookback (series_defaults.py)."""

from __future__ import annotations

import numpy as np
import pytest

from lstmlab.forecast.config import SeriesDataConfig

from lstmlab.forecast.series import load_series
from lstmlab.forecast.defaults import MIN_WINDOWS, resolve, trends

from tests.helpers import shared_file


@pytest.mark.parametrize("file, target, expected", [
    ("timeseries/airline-passengers.csv", None, ("log-diff", 12, 48)),       # monthly, growing: a season of 12
    ("timeseries/daily-min-temperatures.csv", None, ("none", 7, 28)),        # daily, has 0 degrees: no log
    ("timeseries/sp500_gspc_daily_1990-2018.csv", "Close", ("log-diff", 5, 20)),  # business days, growing
])
def test_each_real_series_gets_settings_that_fit_it(file, target, expected):
    loaded = load_series(SeriesDataConfig(str(shared_file(file)), target=target))
    c = loaded.config
    assert (c.transform, c.horizon, c.lookback) == expected


def test_given_settings_are_kept():
    loaded = load_series(SeriesDataConfig(str(shared_file("timeseries/airline-passengers.csv")),
                                          transform="log", horizon=6, lookback=9))
    assert (loaded.config.transform, loaded.config.horizon, loaded.config.lookback) == ("log", 6, 9)


def test_trend_detection():
    t = np.arange(200, dtype=float)
    assert trends(100 + t)                       # 100 -> 300: the level triples
    assert not trends(100 + np.sin(t))           # a steady cycle
    assert not trends(100 + 0.1 * t)             # 120 -> 138: less than 30%
    assert trends(300 - t)                       # falling counts too


def test_a_short_series_gets_a_horizon_its_parts_can_hold_and_enough_windows():
    # 60 points, no dates, no cycle: the horizon would be 10, but the 10% parts hold 6 points;
    # log-diff leaves 59 rows, 47 of them training; 4 horizons (24) of lookback would leave
    # 47 - 6 - 24 + 1 = 18 training windows, too few, so the lookback is cut to leave 32.
    resolved = resolve(SeriesDataConfig(), np.linspace(1.0, 2.0, 60), None)
    assert resolved.transform == "log-diff" and resolved.horizon == 6
    assert resolved.lookback == 47 - 6 - MIN_WINDOWS + 1 == 10


def test_the_cut_lookback_leaves_exactly_the_minimum_of_windows():
    series = 5.0 + 0.1 * np.random.default_rng(0).normal(size=80)  # positive, no trend, no season
    config = SeriesDataConfig(source="x.csv", val_fraction=0.1, test_fraction=0.1)
    resolved = resolve(config, series, None)
    from lstmlab.forecast.series import Splits
    from lstmlab.forecast.windows import window_starts
    train = Splits.of(80, 0.1, 0.1).train
    assert (resolved.transform, resolved.horizon) == ("none", 8)  # the 10% parts hold 8 points
    assert resolved.lookback < 4 * resolved.horizon  # cut
    assert len(window_starts(train, resolved.lookback, resolved.horizon)) == MIN_WINDOWS
