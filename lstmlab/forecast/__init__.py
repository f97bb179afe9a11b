"""Time-series forecasting: a series -> a recurrent forecaster, backtested beside naive, seasonal naive and drift.

    import lstmlab.forecast as forecast
    fc = forecast.train("airline-passengers.csv", "runs/air", lookback=24, horizon=12,
                        transform="log-diff", minutes=2)
    print(fc.backtest().table())          # the network beside naive, seasonal naive and drift
    fc = forecast.load("runs/air")
    fc.predict(steps=12)                  # DataFrame: date, forecast (and lower, upper)

    series.py (reading, cleaning) -> defaults.py (settings chosen from the series) -> windows.py
    (transforms, scaling, windows) -> task.py -> train.py (runs.train_run) -> run folder
    -> trained.py (ForecastRun, load) -> backtest.py (baselines, metrics); model.py the network
"""

from .config import (TRAIN_DEFAULTS, BacktestConfig, ForecasterConfig, ForecastRunConfig, SeriesDataConfig)
from .model import Forecaster
from .train import train
from .trained import (BACKTEST_PNG, REPORT_FILE, SCALER_FILE, SERIES_FILE, TRAINING_PNG, Backtest, ForecastRun,
                      load)

__all__ = ["BACKTEST_PNG", "Backtest", "BacktestConfig", "ForecastRun", "ForecastRunConfig", "Forecaster",
           "ForecasterConfig", "REPORT_FILE", "SCALER_FILE", "SERIES_FILE", "SeriesDataConfig", "TRAINING_PNG",
           "TRAIN_DEFAULTS", "load", "train"]
