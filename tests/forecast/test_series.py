"""Loading and preparing time series (lstmlab.series) on the real series in ../shared/data/timeseries:
dates and frequencies, missing values, splits, a scaler that sees training rows only, exact window
alignment, exact transform inverses, and one-line errors for bad CSVs."""

from __future__ import annotations

import csv
import dataclasses

import numpy as np
import pandas as pd
import pytest
from tests.helpers import shared_file

from lstmlab.errors import LstmlabError
from lstmlab.forecast.config import SeriesDataConfig
from lstmlab.forecast.series import Scaler, Splits, apply_transform, invert_transform, load_series, make_windows, prepare_series, window_starts

AIRLINE = "timeseries/airline-passengers.csv"
TEMPERATURES = "timeseries/daily-min-temperatures.csv"
SP500 = "timeseries/sp500_gspc_daily_1990-2018.csv"


def raw_column(relative: str, column: str) -> list[float]:
    """The column as the csv module reads it: an independent check on pandas."""
    with open(shared_file(relative), newline="") as fh:
        return [float(row[column]) for row in csv.DictReader(fh)]


def airline(**settings):
    return load_series(SeriesDataConfig(str(shared_file(AIRLINE)), **{"lookback": 12, "horizon": 3, "transform": "none", **settings}))


@pytest.fixture(scope="module")
def sp500_slice(tmp_path_factory):
    """The first 400 trading days of 1990-2018, three columns."""
    frame = pd.read_csv(shared_file(SP500)).head(400)
    path = tmp_path_factory.mktemp("series") / "sp500_head.csv"
    frame.to_csv(path, index=False)
    return path


# --- loading: dates, frequency, missing values -------------------------------------------------


def test_airline_is_monthly_with_target_and_dates_found_by_themselves():
    loaded = airline()
    assert loaded.target == "Passengers" and loaded.frequency == "MS"
    assert len(loaded.frame) == 144 and loaded.missing.total == 0
    assert str(loaded.frame.index[0].date()) == "1949-01-01" and str(loaded.frame.index[-1].date()) == "1960-12-01"
    assert loaded.levels[:, 0].tolist() == raw_column(AIRLINE, "Passengers")
    assert loaded.splits == Splits(116, 14, 14)  # 10% of 144 rounds to 14


def test_temperatures_two_absent_new_years_eves_are_filled_or_dropped():
    path = str(shared_file(TEMPERATURES))
    filled = load_series(SeriesDataConfig(path, lookback=30, horizon=7))
    assert filled.frequency == "D" and len(filled.frame) == 3652
    assert filled.missing.inserted_dates == ("1984-12-31", "1988-12-31")
    assert "filled 2 missing value(s)" in str(filled.missing)
    eve = filled.frame.loc["1984-12-31", "Temp"]
    assert eve == pytest.approx((filled.frame.loc["1984-12-30", "Temp"] + filled.frame.loc["1985-01-01", "Temp"]) / 2)
    dropped = load_series(SeriesDataConfig(path, lookback=30, horizon=7, missing="drop"))
    assert len(dropped.frame) == 3650 and any("left out" in note for note in dropped.notes)
    with pytest.raises(LstmlabError, match="1984-12-31.*pass --missing fill"):
        load_series(SeriesDataConfig(path, lookback=30, horizon=7, missing="error"))


def test_trading_days_are_business_days_and_holidays_are_not_missing(sp500_slice):
    loaded = load_series(SeriesDataConfig(str(sp500_slice), target="Close", features="Open,Volume", lookback=20, horizon=5))
    assert loaded.frequency == "B" and len(loaded.frame) == 400 and loaded.missing.total == 0
    assert list(loaded.frame.columns) == ["Close", "Open", "Volume"]
    assert any("holidays" in note for note in loaded.notes)


def test_blank_cells_are_interpolated_over_time_or_dropped(tmp_path):
    path = tmp_path / "gaps.csv"
    rows = [f"2020-01-{d:02d},{v}" for d, v in [(1, 1.0), (2, 2.0), (3, ""), (4, 4.0)]]
    rows += [f"2020-01-{d:02d},{d}" for d in range(5, 31)]
    path.write_text("Date,Value\n" + "\n".join(rows) + "\n")
    config = SeriesDataConfig(str(path), lookback=5, horizon=2, val_fraction=0.2, test_fraction=0.2)
    filled = load_series(config)
    assert filled.frame["Value"].iloc[2] == 3.0 and filled.missing.per_column == {"Value": 1}
    dropped = load_series(dataclasses.replace(config, missing="drop"))
    assert len(dropped.frame) == 29 and dropped.missing.dropped_rows == 1
    with pytest.raises(LstmlabError, match="1 missing value.*--missing fill.*--missing drop"):
        load_series(dataclasses.replace(config, missing="error"))


def test_pandas_series_and_dataframe_load_like_the_csv():
    from_csv = airline()
    series = from_csv.frame["Passengers"]
    from_series = load_series(SeriesDataConfig(lookback=12, horizon=3), series)
    assert from_series.frequency == "MS" and np.array_equal(from_series.levels, from_csv.levels)
    frame = pd.read_csv(shared_file(AIRLINE))  # dates as a "Month" column of strings
    from_frame = load_series(SeriesDataConfig(target="Passengers", lookback=12, horizon=3), frame)
    assert from_frame.frame.index.equals(from_csv.frame.index)
    parsed = pd.read_csv(shared_file(AIRLINE), parse_dates=["Month"])  # dates already datetime64
    from_parsed = load_series(SeriesDataConfig(lookback=12, horizon=3), parsed)
    assert from_parsed.target == "Passengers" and from_parsed.frame.index.equals(from_csv.frame.index)


# --- splits and scaling --------------------------------------------------------------------------


def test_scaler_is_fitted_on_training_rows_only():
    loaded = airline()
    prepared = prepare_series(loaded)
    train = loaded.levels[:loaded.splits.train, 0]
    assert prepared.scaler.mean[0] == pytest.approx(train.mean())
    assert prepared.scaler.std[0] == pytest.approx(train.std())
    # The series grows, so a fit that had seen later rows would have a larger mean.
    assert prepared.scaler.mean[0] < loaded.levels[:, 0].mean() - 20
    # Changing every validation and test value must not move the scaler at all.
    changed = loaded.frame["Passengers"].copy()
    changed.iloc[loaded.splits.train:] *= 100
    other = prepare_series(load_series(loaded.config, changed))
    assert other.scaler == prepared.scaler
    assert np.array_equal(other.values[:loaded.splits.train], prepared.values[:loaded.splits.train])


def test_scaler_round_trips_through_json_dict():
    scaler = Scaler.fit(np.array([[1.0, 10.0], [3.0, 10.0]]))
    assert scaler.std == (1.0, 1.0)  # the constant column keeps std 1 instead of dividing by 0
    again = Scaler.from_dict(scaler.to_dict())
    values = np.array([[2.0, 7.0], [5.0, 10.0]])
    assert again == scaler and np.allclose(again.inverse(again.transform(values)), values)


# --- windows -------------------------------------------------------------------------------------


def test_windows_on_a_counter_show_the_alignment():
    values = np.arange(20, dtype=np.float32).reshape(20, 1)
    inputs, targets = make_windows(values, 0, lookback=4, horizon=2, start=10, stop=16)
    assert window_starts(20, 4, 2, 10, 16).tolist() == [10, 11, 12, 13, 14]
    assert inputs.shape == (5, 4, 1) and targets.shape == (5, 2)
    assert inputs[0, :, 0].tolist() == [6, 7, 8, 9] and targets[0].tolist() == [10, 11]  # inputs read rows before start
    assert targets[-1].tolist() == [14, 15]  # the last target is the last row of the part


def test_windows_line_up_with_the_raw_airline_series():
    passengers = raw_column(AIRLINE, "Passengers")
    prepared = prepare_series(airline())
    train, val, test = (prepared.loaded.splits.bounds(p) for p in ("train", "val", "test"))
    assert train == (0, 116) and val == (116, 130) and test == (130, 144)
    for part, (start, stop) in [("train", train), ("val", val), ("test", test)]:
        inputs, targets = prepared.windows(part)
        starts = prepared.target_starts(part)
        assert len(inputs) == len(targets) == stop - 3 - max(start, 12) + 1
        first, last = int(starts[0]), int(starts[-1])
        assert np.allclose(prepared.scaler.inverse(inputs[0, :, 0], 0), passengers[first - 12:first])
        assert np.allclose(prepared.scaler.inverse(targets[0], 0), passengers[first:first + 3])
        assert np.allclose(prepared.scaler.inverse(targets[-1], 0), passengers[last:last + 3])
        assert first == max(start, 12) and last + 3 == stop
    # The first validation window reads the last 12 training months and predicts Sep-Nov 1958.
    val_inputs, val_targets = prepared.windows("val")
    assert np.allclose(prepared.scaler.inverse(val_targets[0], 0), [404, 359, 310])


def test_feature_columns_follow_the_target_in_the_windows(sp500_slice):
    loaded = load_series(SeriesDataConfig(str(sp500_slice), target="Close", features=("Open", "Volume"),
                                          lookback=20, horizon=5))
    prepared = prepare_series(loaded)
    inputs, targets = prepared.windows("test")
    t = int(prepared.target_starts("test")[0])
    raw = pd.read_csv(sp500_slice)
    assert np.allclose(prepared.scaler.inverse(inputs[0]), raw[["Close", "Open", "Volume"]].to_numpy()[t - 20:t], rtol=1e-6)
    assert np.allclose(prepared.scaler.inverse(targets[0], 0), raw["Close"].to_numpy()[t:t + 5], rtol=1e-6)


# --- transforms ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["none", "log", "diff", "log-diff"])
def test_transforms_invert_exactly(kind):
    levels = np.array(raw_column(AIRLINE, "Passengers"))
    changed = apply_transform(levels, kind)
    if kind in ("diff", "log-diff"):
        assert len(changed) == 143
        assert np.allclose(invert_transform(changed, kind, levels[0]), levels[1:])
        # A forecast of the next 12 differences, made at month 100, turned back into levels from month 99's.
        assert np.allclose(invert_transform(changed[99:111], kind, levels[99]), levels[100:112])
    else:
        assert np.allclose(invert_transform(changed, kind), levels)


def test_diff_of_a_two_column_table_keeps_features_aligned():
    levels = np.array([[1.0, 10.0], [4.0, 20.0], [9.0, 30.0]])
    assert apply_transform(levels, "diff").tolist() == [[3.0, 20.0], [5.0, 30.0]]


@pytest.mark.parametrize("kind", ["diff", "log-diff"])
def test_scaled_difference_targets_turn_back_into_prices(sp500_slice, kind):
    loaded = load_series(SeriesDataConfig(str(sp500_slice), target="Close", features="Volume", transform=kind,
                                          lookback=20, horizon=5))
    prepared = prepare_series(loaded)
    close = pd.read_csv(sp500_slice)["Close"].to_numpy()
    for part in ("train", "val", "test"):
        _, targets = prepared.windows(part)  # (N, 5) scaled differences
        starts = prepared.target_starts(part)  # model row t = price row t + 1
        expected = np.stack([close[t + 1:t + 6] for t in starts])
        assert np.allclose(prepared.to_levels(targets, starts), expected, rtol=1e-5)


# --- bad input -----------------------------------------------------------------------------------


def write(tmp_path, text, name="bad.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def good_rows(n, start=0):
    return "".join(f"2020-01-{d + 1:02d},{float(d)}\n" for d in range(start, n))


@pytest.mark.parametrize("text, settings, needles", [
    ("Date,Close\n2020-01-01,1.5\n2020-01-02,n/a?\n" + good_rows(30, 2), {},
     ["'Close'", "'n/a?'", "line 3", "not a number", "fix them"]),
    ("Date,Close\n" + good_rows(30), {"target": "Closing"},
     ["--target 'Closing' is not a column", "its columns are: Date, Close"]),
    ("Date,Close\n" + good_rows(30), {"features": ("Volume",)}, ["--features 'Volume'", "Date, Close"]),
    ("Date,Close\n" + good_rows(8), {}, ["8 points", "lookback 5 + horizon 2", "lower --lookback or --horizon"]),
    ("Date,Close\n" + good_rows(5) + good_rows(30, 4), {}, ["2020-01-05", "more than once", "remove the duplicates"]),
    ("", {}, ["is empty", "header row"]),
    ("Date,Close\n", {"target": "Close"}, ["no rows of data", "give a series with at least"]),
    ("Date,Close\n" + good_rows(30), {"transform": "log"}, ["needs positive values", "--transform diff"]),
    ("Date,Close\n" + good_rows(30), {"date_column": "Close"}, ["'Close'", "not a date", "--date-column"]),
    ("Date,Open,Close\n" + "".join(f"2020-01-{d + 1:02d},1,2\n" for d in range(30)), {}, ["choose the column", "--target"]),
])
def test_bad_csvs_give_one_line_errors_that_name_the_fix(tmp_path, text, settings, needles):
    config = SeriesDataConfig(write(tmp_path, text), **{"lookback": 5, "horizon": 2, **settings})
    with pytest.raises(LstmlabError) as caught:
        load_series(config)
    message = str(caught.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message


def test_missing_file_and_bad_settings_are_named():
    with pytest.raises(LstmlabError, match="no such file: nowhere.csv"):
        load_series(SeriesDataConfig("nowhere.csv"))
    for settings, needle in [({"transform": "sqrt"}, "choose one of none, log, diff, log-diff"),
                             ({"missing": "zero"}, "choose fill, drop or error"),
                             ({"val_fraction": 0.5, "test_fraction": 0.5}, "room left for training"),
                             ({"target": "Close", "features": "Close,Open"}, "leave it out"),
                             ({"frequency": "M"}, "leave it out to infer it"),
                             ({"lookback": 0}, "--lookback must be at least 1")]:
        with pytest.raises(LstmlabError, match=needle):
            SeriesDataConfig("x.csv", **settings)
