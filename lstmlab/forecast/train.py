"""Training a forecaster: lstmlab.forecast.train.

    import lstmlab.forecast as forecast
    fc = forecast.train("airline-passengers.csv", "runs/air", lookback=24, horizon=12,
                        transform="log-diff", minutes=2)
    print(fc.backtest().table())          # the network beside naive, seasonal naive and drift
    fc = forecast.load("runs/air")
    fc.predict(steps=12)                  # DataFrame: date, forecast (and lower, upper)

The series is cut in time order: train | validation | test. The network learns
on windows whose targets lie in the training part, the best checkpoint is
picked on the validation windows, and the test part is scored by a
walk-forward backtest in which the network and the baselines forecast from the
same origins with the same history. The trained run (its folder, backtest,
forecasts and plots) is trained.ForecastRun.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Callable, Optional, Union

import pandas as pd
import torch
from tqdm import tqdm

from .. import checkpoint
from ..checkpoint import PathLike
from ..config import TrainConfig, field_names, split_settings, task_train_config
from ..errors import LstmlabError
from ..runs import Setup, train_run
from ..trainer import Trainer
from ..version import __version__
from .config import TRAIN_DEFAULTS, BacktestConfig, ForecasterConfig, ForecastRunConfig, SeriesDataConfig
from .model import Forecaster
from .series import LoadedSeries, load_series, prepare_series
from .task import ForecastTask
from .trained import BACKTEST_PNG, REPORT_FILE, SCALER_FILE, SERIES_FILE, TRAINING_PNG, ForecastRun, load, open_run

# Which config each keyword setting belongs to.
OWNERS = {
    "data": field_names(SeriesDataConfig, "source"),
    "model": field_names(ForecasterConfig, "input_size", "horizon"),
    "train": field_names(TrainConfig),
    "backtest": field_names(BacktestConfig),
}


def train(
    data: Union[str, pd.Series, pd.DataFrame, None] = None,
    out: PathLike = "runs/forecast",
    *,
    resume: bool = False,
    log: Callable[[str], None] = tqdm.write,
    show_progress: Optional[bool] = None,
    **settings: Any,
) -> ForecastRun:
    """Train a forecaster on `data` (a CSV path, or a pandas Series/DataFrame), backtest it
    on the test part beside the baselines, and return it (best weights loaded).

    Settings are the fields of SeriesDataConfig (target, date_column, features,
    lookback, horizon, transform, missing, val_fraction, test_fraction, ...),
    ForecasterConfig (cell, hidden_sizes, output, distribution, ...),
    TrainConfig (minutes, epochs, lr, ...) and BacktestConfig (season, stride).
    With resume=True, `out` is continued; budget settings then mean "this much more".
    """
    return train_run(ForecasterRecipe(), data, out, resume=resume, log=log, show_progress=show_progress,
                     settings=settings)


class ForecasterRecipe:
    """The forecaster's part of runs.train_run."""

    missing_data = "give the series to train on: a CSV file (with --target COLUMN) or a pandas Series/DataFrame"
    loss_plot = TRAINING_PNG
    reusable = ()

    def start(self, data: Any, run_dir: Path, settings: dict[str, Any], log) -> Setup:
        parts = split_settings(settings, OWNERS)
        data_kw, model_kw, train_kw = parts["data"], parts["model"], parts["train"]
        # Every setting is checked before the data is read, so a bad flag fails at once.
        from_file = isinstance(data, (str, Path))
        data_cfg = SeriesDataConfig(source=str(data) if from_file else "<pandas>", **data_kw)
        ForecasterConfig(input_size=1, horizon=data_cfg.horizon or 1, **model_kw)  # horizon None: chosen from the data
        task_train_config(TRAIN_DEFAULTS, train_kw, 1)
        backtest_cfg = BacktestConfig(**parts["backtest"])

        loaded = load_series(data_cfg, None if from_file else data)
        # Name the columns found and the settings chosen from the data (transform, lookback,
        # horizon), so the run reloads series.csv the same way whatever was auto-detected.
        dated = isinstance(loaded.frame.index, pd.DatetimeIndex)
        data_cfg = dataclasses.replace(loaded.config, target=loaded.target, frequency=loaded.frequency,
                                       date_column=loaded.frame.index.name if dated else None)
        run_dir.mkdir(parents=True, exist_ok=True)
        _save_series(loaded, run_dir / SERIES_FILE)
        prepared = prepare_series(loaded)
        model_cfg = ForecasterConfig(input_size=prepared.values.shape[1], horizon=data_cfg.horizon, **model_kw)
        train_set, val_set = prepared.windows("train"), prepared.windows("val")
        _check_windows(train_set, val_set, data_cfg)
        steps_per_epoch = max(1, math.ceil(len(train_set[0]) / train_kw.get("batch_size", TRAIN_DEFAULTS["batch_size"])))
        train_cfg = task_train_config(TRAIN_DEFAULTS, train_kw, steps_per_epoch)
        config = ForecastRunConfig(data=data_cfg, model=model_cfg, train=train_cfg, backtest=backtest_cfg,
                                   version=__version__)
        checkpoint.save_text_atomic(run_dir / "config.json", config.to_json())
        checkpoint.save_text_atomic(run_dir / SCALER_FILE, json.dumps(prepared.scaler.to_dict(), indent=2) + "\n")

        log(loaded.describe())
        chosen = [f"--{name} {getattr(data_cfg, name)}" for name in ("transform", "horizon", "lookback") if name not in data_kw]
        log(f"windows: lookback {data_cfg.lookback}, horizon {data_cfg.horizon}, transform {data_cfg.transform}"
            + (f" ({', '.join(chosen)} chosen from the data)" if chosen else "")
            + f": {len(train_set[0]):,} training, {len(val_set[0]):,} validation; scaling fitted on the training part only")
        torch.manual_seed(train_cfg.seed)
        model = Forecaster(model_cfg)
        params = sum(p.numel() for p in model.parameters())
        summary = (f"{model_cfg.cell} {'x'.join(map(str, model_cfg.hidden_sizes))}, {model_cfg.output} "
                   f"{model_cfg.distribution} output, {params:,} parameters")
        return Setup(model, ForecastTask(train_set, val_set, train_cfg), train_cfg, summary)

    def reopen(self, run_dir: Path, log) -> Setup:
        run = open_run(run_dir, device="cpu")  # the trainer moves the model to its own device
        task = ForecastTask(run.prepared.windows("train"), run.prepared.windows("val"), run.config.train)
        return Setup(Forecaster(run.config.model), task, run.config.train)

    def finish(self, trainer: Trainer, setup: Setup, log) -> ForecastRun:
        """Backtest the best checkpoint on the test part beside the baselines; save the report and plot."""
        run_dir, progress = trainer.run_dir, trainer.progress
        run = load(run_dir)
        result = run.backtest()
        log(f"\nwalk-forward backtest on the test part ({len(result.origins)} origins, horizon "
            f"{run.config.data.horizon}, {result.notes_text()}):\n{result.table()}")
        run.plot_backtest(result, run_dir / BACKTEST_PNG)
        report = {"backtest": result.to_dict(),
                  "training": {"steps": progress.step, "seconds": round(progress.elapsed_s, 1),
                               "best_step": progress.best_step, "stop_reason": progress.stop_reason}}
        checkpoint.save_text_atomic(run_dir / REPORT_FILE, json.dumps(report, indent=2) + "\n")
        log(f"wrote {REPORT_FILE} and {BACKTEST_PNG} in {run_dir}")
        run.report = report
        return run


def _check_windows(train_set, val_set, data_cfg: SeriesDataConfig) -> None:
    if not len(train_set[0]):
        raise LstmlabError(f"the training part holds no window of lookback {data_cfg.lookback} + horizon "
                           f"{data_cfg.horizon}; lower --lookback or --horizon")
    if not len(val_set[0]):
        raise LstmlabError(f"the validation part holds no window with horizon {data_cfg.horizon}; "
                           "raise --val-fraction or lower --horizon")


def _save_series(loaded: LoadedSeries, path: Path) -> None:
    frame = loaded.frame
    if isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.rename_axis(frame.index.name or "date")
        checkpoint.save_text_atomic(path, frame.to_csv(index=True))
    else:  # rows only: no index column, or it would be read back as a series
        checkpoint.save_text_atomic(path, frame.to_csv(index=False))
