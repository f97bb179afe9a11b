"""Training, saving, loading, backtesting and predicting with a forecaster, through the API
and `lstmlab forecast`, on the real series in ../shared/data/timeseries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lstmlab.forecast as forecast
from lstmlab.errors import LstmlabError
from lstmlab.forecast.backtest import naive
from lstmlab.checkpoint import BEST, LAST

from tests.helpers import shared_file

AIRLINE = "timeseries/airline-passengers.csv"
TEMPERATURES = "timeseries/daily-min-temperatures.csv"
SP500 = "timeseries/sp500_gspc_daily_1990-2018.csv"
SMALL = dict(hidden_sizes=(16,), epochs=15, lookback=24, horizon=12, transform="log",
             val_fraction=0.17, test_fraction=0.17)
RUN_FILES = ("config.json", "series.csv", "scaler.json", BEST, LAST, "metrics.jsonl", "training.png",
             "report.json", "backtest.png")


@pytest.fixture(scope="module")
def airline_run(tmp_path_factory) -> tuple[Path, forecast.ForecastRun, list[str]]:
    """A tiny gaussian forecaster trained for a few epochs on the 144 monthly airline passenger counts."""
    run = tmp_path_factory.mktemp("runs") / "airline"
    lines: list[str] = []
    fc = forecast.train(str(shared_file(AIRLINE)), run, show_progress=False, log=lines.append,
                        distribution="gaussian", **SMALL)
    return run, fc, lines


def test_a_run_folder_holds_every_file_and_a_backtest_beside_the_baselines(airline_run):
    run, fc, lines = airline_run
    for name in RUN_FILES:
        assert (run / name).is_file(), name
    report = json.loads((run / "report.json").read_text())
    scores = report["backtest"]["scores"]
    assert list(scores) == ["lstmlab", "naive", "seasonal naive (m=12)", "drift"]
    for method in scores.values():
        assert set(method) == {"mae", "rmse", "mape", "mase"} and all(np.isfinite(list(method.values())))
    # 24 test months, horizon 12, stride 1: origins 1959-01 .. 1960-01.
    assert report["backtest"]["origins"] == 13 and report["backtest"]["first_origin"] == "1959-01-01"
    text = "\n".join(lines)
    assert "| lstmlab |" in text and "| seasonal naive (m=12) |" in text
    assert "scaling fitted on the training part only" in text
    assert "chosen from the data" not in text  # every one of them was given


def test_settings_chosen_from_the_data_are_said_and_saved(tmp_path):
    lines: list[str] = []
    forecast.train(str(shared_file(AIRLINE)), tmp_path / "run", show_progress=False, log=lines.append,
                   hidden_sizes=(8,), epochs=2)
    assert "(--transform log-diff, --horizon 12, --lookback 48 chosen from the data)" in "\n".join(lines)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["data"]
    assert (saved["transform"], saved["horizon"], saved["lookback"]) == ("log-diff", 12, 48)
    assert len(forecast.load(tmp_path / "run").predict()) == 12


def test_the_baselines_in_the_table_are_computed_on_the_same_origins(airline_run):
    _, fc, _ = airline_run
    result = fc.backtest()
    series = fc.loaded.levels[:, 0]
    # 1959-01 is row 120: naive repeats Dec 1958 (337) for 12 months.
    first = result.origins[0]
    assert first.index == 120 and series[119] == 337
    assert np.array_equal(result.result.forecasts["naive"][0], naive(series[:120], 12))
    assert np.allclose(result.result.actuals[0], series[120:132])


def test_gaussian_intervals_are_scored_in_the_backtest(airline_run):
    _, fc, lines = airline_run
    result = fc.backtest()
    c = result.coverage
    assert c["interval"] == 0.9 and 0.0 <= c["coverage"] <= 1.0 and c["mean_width"] > 0
    # By hand: the interval predict() would have given at each origin, against the actual values.
    inside = []
    for origin, actual in zip(result.origins, result.result.actuals):
        history = forecast.ForecastRun(fc.run_dir, fc.config, fc.loaded, fc.prepared.scaler, fc.model)
        t = origin.index - fc.loaded.lost
        history.prepared = fc.prepared.__class__(fc.loaded, fc.prepared.scaler, fc.prepared.values[:t])
        low, high = _predict_interval(history, fc.loaded.levels[origin.index - 1, 0])
        inside.append((actual >= low) & (actual <= high))
    assert c["coverage"] == pytest.approx(np.mean(inside))
    assert "intervals held" in "\n".join(lines)


def _predict_interval(run: forecast.ForecastRun, last_level: float) -> tuple[np.ndarray, np.ndarray]:
    """predict()'s 90% interval from the end of run.prepared.values (the history up to an origin)."""
    out = run._forecast_rows(run.prepared.values, np.array([len(run.prepared.values)]))
    return run._interval(out["mean"][0], out["std"][0], last_level, 1.6448536269514722)


def test_save_load_gives_identical_forecasts(airline_run):
    run, fc, _ = airline_run
    again = forecast.load(run)
    first, second = fc.predict(12), again.predict(12)
    pd.testing.assert_frame_equal(first, second)
    assert list(first.columns) == ["date", "forecast", "lower", "upper"]
    assert first["date"].iloc[0] == pd.Timestamp("1961-01-01") and first["date"].iloc[-1] == pd.Timestamp("1961-12-01")
    assert (first["lower"] < first["forecast"]).all() and (first["forecast"] < first["upper"]).all()
    assert np.allclose(fc.backtest().scores["lstmlab"]["mae"], again.backtest().scores["lstmlab"]["mae"])


def test_the_network_forecast_never_reads_past_its_origin(airline_run):
    """Changing every point after an origin must leave the forecast from that origin unchanged."""
    _, fc, _ = airline_run
    forecaster = fc.network_forecaster()
    series = fc.loaded.levels[:, 0]
    before = forecaster(series[:120], 12)
    # The forecaster may only read the stored series up to its history's length; scribble on the rest.
    fc.prepared.values[120 - fc.loaded.lost:] = 1e6
    try:
        assert np.array_equal(forecaster(series[:120], 12), before)
    finally:
        fc.prepared = forecast.load(fc.run_dir).prepared


def test_predict_rolls_forward_past_the_horizon_without_inventing_intervals(airline_run):
    _, fc, _ = airline_run
    frame = fc.predict(30)
    assert len(frame) == 30
    assert np.allclose(frame["forecast"][:12], fc.predict(12)["forecast"])
    assert frame["lower"][:12].notna().all() and frame["lower"][12:].isna().all()
    assert (frame["forecast"] > 0).all()  # a log model never forecasts a negative count


def test_cli_train_backtest_predict(tmp_path, cli):
    run, out = tmp_path / "run", tmp_path / "forecast.csv"
    code, stdout, err = cli("forecast", "train", shared_file(AIRLINE), "--target", "Passengers", "--out", run,
                            "--lookback", "24", "--horizon", "12", "--transform", "log", "--val-fraction", "0.17",
                            "--test-fraction", "0.17", "--hidden", "8", "--epochs", "3", "--no-progress")
    assert code == 0, err
    assert "| seasonal naive (m=12) |" in stdout and "forecast predict" in stdout
    code, stdout, err = cli("forecast", "backtest", run, "--json")
    assert code == 0, err
    assert set(json.loads(stdout)["scores"]) == {"lstmlab", "naive", "seasonal naive (m=12)", "drift"}
    code, stdout, err = cli("forecast", "predict", run, "--steps", "6", "--out", out)
    assert code == 0, err
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["date", "forecast"] and len(frame) == 6
    assert frame["date"].iloc[0] == "1961-01-01"
    assert out.with_suffix(".png").is_file()


def test_resume_continues_and_a_finished_run_is_not_overwritten(tmp_path):
    run = tmp_path / "run"
    settings = dict(SMALL, epochs=2, hidden_sizes=(8,))
    forecast.train(str(shared_file(AIRLINE)), run, show_progress=False, log=lambda s: None, **settings)
    steps = len((run / "metrics.jsonl").read_text().splitlines())
    forecast.train(out=run, resume=True, epochs=2, show_progress=False, log=lambda s: None)
    assert len((run / "metrics.jsonl").read_text().splitlines()) > steps
    with pytest.raises(LstmlabError, match="already holds a trained model"):
        forecast.train(str(shared_file(AIRLINE)), run, show_progress=False, log=lambda s: None, **settings)


def test_features_and_a_pandas_series_work(tmp_path):
    frame = pd.read_csv(shared_file(SP500), parse_dates=["Date"], index_col="Date").iloc[-400:]
    fc = forecast.train(frame, tmp_path / "sp", target="Close", features=("Volume",), transform="log-diff",
                        lookback=20, horizon=5, hidden_sizes=(8,), epochs=2, show_progress=False, log=lambda s: None)
    assert fc.config.model.input_size == 2
    assert fc.loaded.frequency == "B"
    predicted = fc.predict(5)
    assert predicted["date"].iloc[0] > frame.index[-1] and predicted["date"].iloc[0].day_of_week < 5
    series = pd.read_csv(shared_file(AIRLINE), parse_dates=["Month"], index_col="Month")["Passengers"]
    fc = forecast.train(series, tmp_path / "air", show_progress=False, log=lambda s: None, **dict(SMALL, epochs=1))
    assert fc.predict(3)["date"].iloc[0] == pd.Timestamp("1961-01-01")


@pytest.mark.parametrize("args, message", [
    (["--target", "Nope"], "is not a column of"),
    (["--target", "Month"], "column 'Month' holds dates ('1949-01' at line 2), not numbers"),
    (["--horizon", "0"], "--horizon must be at least 1"),
    (["--lookback", "200"], "too few"),
    (["--cell", "lstm", "--output", "sideways"], "invalid choice"),
])
def test_bad_settings_give_one_line_errors(tmp_path, cli, args, message):
    code, out, err = cli("forecast", "train", shared_file(AIRLINE), "--out", tmp_path / "run", *args, "--no-progress")
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "run" / BEST).exists()


@pytest.mark.parametrize("text, message", [
    ("Month,Passengers\n1949-01,112\n1949-02,abc\n", "not a number"),
    ("", "is empty"),
    ("Month,Passengers\n", "no rows"),
])
def test_bad_csvs_give_clear_errors(tmp_path, cli, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    code, out, err = cli("forecast", "train", path, "--out", tmp_path / "run", "--no-progress")
    assert code == 2 and "Traceback" not in err
    assert message in err, err


def test_predict_refuses_a_missing_run_and_a_folder_as_output(tmp_path, cli, airline_run):
    code, _, err = cli("forecast", "predict", tmp_path / "nothing", "--out", tmp_path / "f.csv")
    assert code == 2 and "no such run folder" in err
    code, _, err = cli("forecast", "predict", airline_run[0], "--out", tmp_path)
    assert code == 2 and "is a folder" in err


def test_a_damaged_run_says_what_to_restore(tmp_path, airline_run):
    copy = tmp_path / "copy"
    shutil.copytree(airline_run[0], copy)
    (copy / "scaler.json").write_text("{")
    with pytest.raises(LstmlabError, match="scaler.json is missing or damaged"):
        forecast.load(copy)



def test_ctrl_c_saves_and_names_the_forecast_resume_command(tmp_path):
    import os
    import signal

    from lstmlab.trainer import TrainingInterrupted

    def press_ctrl_c_once(line: str, sent=[]) -> None:
        if line.startswith("step") and not sent:  # the first validation, inside the training loop
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)

    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted, match=f"continue with: lstmlab forecast train --resume {run}"):
        forecast.train(str(shared_file(AIRLINE)), run, show_progress=False, log=press_ctrl_c_once,
                       **dict(SMALL, epochs=50))
    assert (run / LAST).is_file()
    forecast.train(out=run, resume=True, epochs=1, show_progress=False, log=lambda s: None)
