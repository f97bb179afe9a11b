"""Time-series forecasting: the task the Trainer runs, and training (the Python API's entry).

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
forecasts and plots) is forecast_run.ForecastRun.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from . import checkpoint
from .api import _budget_text, _version
from .config import TrainConfig, check_resume_settings, task_train_config
from .errors import LstmlabError
# Re-exported: forecast.load, forecast.ForecastRun and the file names are the public API.
from .forecast_run import (BACKTEST_PNG, REPORT_FILE, SCALER_FILE, SERIES_FILE, TRAINING_PNG,  # noqa: F401
                           Backtest, BacktestConfig, ForecastRun, ForecastRunConfig, _open, load)
from .forecaster import Forecaster, ForecasterConfig
from .plots import plot_losses
from .series import LoadedSeries, SeriesDataConfig, load_series, prepare_series
from .trainer import Trainer, read_metrics

PathLike = Union[str, Path]
# Training defaults for forecasters, where they differ from the language model's:
# small series give few windows, so many short epochs; float32, because bf16's
# 8-bit mantissa is coarser than the differences a forecaster must learn.
TRAIN_DEFAULTS: dict[str, Any] = dict(lr=3e-3, batch_size=32, warmup_steps=0, epochs=300.0, minutes=5.0,
                                      patience=50, precision="fp32", weight_decay=0.0)


# ---------------------------------------------------------------------------
# The task the Trainer runs
# ---------------------------------------------------------------------------


class ForecastTask:
    """Shuffled batches of training windows; the validation windows' loss and error."""

    unit = "window"  # the Trainer reports windows/s
    resume_command = "lstmlab forecast train"

    def __init__(self, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], config: TrainConfig):
        self.x, self.y = (torch.from_numpy(a) for a in train)  # (N, L, F), (N, H)
        self.val_x, self.val_y = (torch.from_numpy(a) for a in val)
        self.config = config
        self.batch_size = min(config.batch_size, len(self.x))
        self.steps_per_epoch = max(1, math.ceil(len(self.x) / self.batch_size))
        self.chars_per_step = self.batch_size
        self._epoch: Optional[int] = None
        self._order = torch.zeros(0, dtype=torch.int64)

    def batch(self, epoch: int, index: int):
        if epoch != self._epoch:  # a fixed order per epoch, so a resumed run sees the same batches
            generator = torch.Generator().manual_seed(self.config.seed * 100_003 + epoch)
            self._epoch, self._order = epoch, torch.randperm(len(self.x), generator=generator)
        rows = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]

    def training_loss(self, model: Forecaster, batch, carry):
        x, y = batch
        return model.loss(x, y), None

    @torch.inference_mode()
    def evaluate(self, model: Forecaster) -> dict[str, float]:
        was_training = model.training
        model.eval()
        try:
            loss = float(model.loss(self.val_x, self.val_y))
            mean = model.predict(self.val_x)["mean"]
        finally:
            model.train(was_training)
        return {"val_loss": loss, "val_mae": float((mean - self.val_y).abs().mean())}

    @staticmethod
    def describe(metrics: dict[str, float]) -> str:
        return f"val loss {metrics['val_loss']:.4f} | MAE {metrics['val_mae']:.4f} (scaled units)"


# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------

DATA_FIELDS = {f.name for f in fields(SeriesDataConfig)} - {"source"}
MODEL_FIELDS = {f.name for f in fields(ForecasterConfig)} - {"input_size", "horizon"}
TRAIN_FIELDS = {f.name for f in fields(TrainConfig)}
BACKTEST_FIELDS = {f.name for f in fields(BacktestConfig)}


def split_settings(settings: dict[str, Any]) -> tuple[dict, dict, dict, dict]:
    """Route keyword settings to the config that owns them; unknown names are errors."""
    parts: tuple[dict, dict, dict, dict] = ({}, {}, {}, {})
    owners = (DATA_FIELDS, MODEL_FIELDS, TRAIN_FIELDS, BACKTEST_FIELDS)
    for key, value in settings.items():
        owner = next((i for i, names in enumerate(owners) if key in names), None)
        if owner is None:
            known = sorted(set().union(*owners))
            raise LstmlabError(f"unknown setting {key!r}; known settings: {', '.join(known)}")
        parts[owner][key] = value
    return parts


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


def train(
    data: Union[str, pd.Series, pd.DataFrame, None] = None,
    out: PathLike = "runs/forecast",
    *,
    resume: bool = False,
    log: Callable[[str], None] = tqdm.write,
    show_progress: Optional[bool] = None,
    **settings: Any,
) -> "ForecastRun":
    """Train a forecaster on `data` (a CSV path, or a pandas Series/DataFrame), backtest it
    on the test part beside the baselines, and return it (best weights loaded).

    Settings are the fields of SeriesDataConfig (target, date_column, features,
    lookback, horizon, transform, missing, val_fraction, test_fraction, ...),
    ForecasterConfig (cell, hidden_sizes, output, distribution, ...),
    TrainConfig (minutes, epochs, lr, ...) and BacktestConfig (season, stride).
    With resume=True, `out` is continued; budget settings then mean "this much more".
    """
    run_dir = Path(out)
    if resume:
        return _resume(run_dir, log, show_progress, settings)
    if data is None:
        raise LstmlabError("give the series to train on: a CSV file (with --target COLUMN) or a pandas Series/DataFrame")
    checkpoint.check_fresh_run_dir(run_dir)
    data_kw, model_kw, train_kw, backtest_kw = split_settings(dict(settings))
    # Every setting is checked before the data is read, so a bad flag fails at once.
    source = str(data) if isinstance(data, (str, Path)) else "<pandas>"
    data_cfg = SeriesDataConfig(source=source, **data_kw)
    ForecasterConfig(input_size=1, horizon=data_cfg.horizon or 1, **model_kw)  # horizon None: chosen from the data
    task_train_config(TRAIN_DEFAULTS, train_kw, 1)
    backtest_cfg = BacktestConfig(**backtest_kw)

    loaded = load_series(data_cfg, None if isinstance(data, (str, Path)) else data)
    # Name the columns found and the settings chosen from the data (transform, lookback,
    # horizon), so the run reloads series.csv the same way whatever was auto-detected.
    data_cfg = dataclasses.replace(loaded.config, target=loaded.target, frequency=loaded.frequency,
                                   date_column=loaded.frame.index.name if isinstance(loaded.frame.index, pd.DatetimeIndex) else None)
    run_dir.mkdir(parents=True, exist_ok=True)
    _save_series(loaded, run_dir / SERIES_FILE)
    prepared = prepare_series(loaded)
    model_cfg = ForecasterConfig(input_size=prepared.values.shape[1], horizon=data_cfg.horizon, **model_kw)
    train_set, val_set = prepared.windows("train"), prepared.windows("val")
    _check_windows(train_set, val_set, data_cfg)
    steps_per_epoch = max(1, math.ceil(len(train_set[0]) / train_kw.get("batch_size", TRAIN_DEFAULTS["batch_size"])))
    train_cfg = task_train_config(TRAIN_DEFAULTS, train_kw, steps_per_epoch)
    config = ForecastRunConfig(data=data_cfg, model=model_cfg, train=train_cfg, backtest=backtest_cfg, version=_version())
    checkpoint.save_text_atomic(run_dir / "config.json", config.to_json())
    checkpoint.save_text_atomic(run_dir / SCALER_FILE, json.dumps(prepared.scaler.to_dict(), indent=2) + "\n")

    log(loaded.describe())
    chosen = [f"--{name} {getattr(data_cfg, name)}" for name in ("transform", "horizon", "lookback") if name not in data_kw]
    log(f"windows: lookback {data_cfg.lookback}, horizon {data_cfg.horizon}, transform {data_cfg.transform}"
        + (f" ({', '.join(chosen)} chosen from the data)" if chosen else "")
        + f": {len(train_set[0]):,} training, {len(val_set[0]):,} validation; scaling fitted on the training part only")
    torch.manual_seed(train_cfg.seed)
    model = Forecaster(model_cfg)
    task = ForecastTask(train_set, val_set, train_cfg)
    params = sum(p.numel() for p in model.parameters())
    log(f"model: {model_cfg.cell} {'x'.join(map(str, model_cfg.hidden_sizes))}, {model_cfg.output} "
        f"{model_cfg.distribution} output, {params:,} parameters; budget: {_budget_text(train_cfg)}")
    trainer = Trainer(model, task, train_cfg, run_dir, log=log, show_progress=show_progress)
    return _fit_and_report(trainer, run_dir, log)


def _resume(run_dir: Path, log, show_progress, settings: dict[str, Any]) -> "ForecastRun":
    check_resume_settings(settings)
    run = _open(run_dir)
    task = ForecastTask(run.prepared.windows("train"), run.prepared.windows("val"), run.config.train)
    model = Forecaster(run.config.model)
    trainer = Trainer(model, task, run.config.train, run_dir, log=log, show_progress=show_progress)
    trainer.resume()
    trainer.extend_budget(steps=settings.get("max_steps"), minutes=settings.get("minutes"), epochs=settings.get("epochs"))
    log(f"resuming {run_dir} at step {trainer.progress.step:,}; budget: {_budget_text(trainer.cfg)}")
    return _fit_and_report(trainer, run_dir, log)


def _fit_and_report(trainer: Trainer, run_dir: Path, log) -> "ForecastRun":
    try:
        progress = trainer.fit()
    finally:
        metrics = read_metrics(run_dir)
        if metrics:
            plot_losses(metrics, run_dir / TRAINING_PNG, unit="")
    log(f"stopped after {progress.step:,} steps ({progress.step / trainer.task.steps_per_epoch:.0f} epochs, "
        f"{progress.elapsed_s:,.0f}s; {progress.stop_reason}); best checkpoint: step {progress.best_step:,}, "
        f"validation loss {progress.best_val:.4f}")
    run = load(run_dir)
    result = run.backtest()
    log(f"\nwalk-forward backtest on the test part ({len(result.origins)} origins, horizon "
        f"{run.config.data.horizon}, {result.notes_text()}):\n{result.table()}")
    run.plot_backtest(result, run_dir / BACKTEST_PNG)
    report = {"backtest": result.to_dict(),
              "training": {"steps": progress.step, "seconds": round(progress.elapsed_s, 1),
                           "best_step": progress.best_step, "stop_reason": progress.stop_reason}}
    checkpoint.save_text_atomic(run_dir / REPORT_FILE, json.dumps(report, indent=2) + "\n")
    log(f"saved in {run_dir} ({REPORT_FILE}, {BACKTEST_PNG}, {TRAINING_PNG})")
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
