"""`lstmlab forecast ...`: train, backtest and predict, a thin shell over lstmlab.forecast."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Optional

from .. import forecast
from ..checkpoint import save_text_atomic
from ..config import CELLS, DEFAULT_CELL
from ..errors import LstmlabError
from ..forecast.config import DISTRIBUTIONS, MISSING_POLICIES, OUTPUTS, TRAIN_DEFAULTS, BacktestConfig
from ..forecast.windows import TRANSFORMS
from .flags import (add_device_flag, add_progress_flag, add_run_flags, add_training_flags, check_seed, given, items,
                    layer_sizes, run_folder)

# `forecast predict` rolls the forecast forward a horizon at a time, each block reading the
# history again: 10,000 points already take a minute or two with a small model.
MAX_PREDICT_STEPS = 10_000
SERIES_HELP = ("a CSV file with a header row: a date column (parsed, sorted; the frequency is inferred) "
               "and numeric columns")


def add_parser(sub, parser_class) -> None:
    """Add `forecast` and its sub-commands to the top-level sub-parsers."""
    group = sub.add_parser("forecast", help="time-series forecasting: train, backtest, predict",
                           description="Forecast a numeric series with a recurrent network, always scored beside "
                                       "naive, seasonal naive and drift forecasts in a walk-forward backtest.")
    inner = group.add_subparsers(dest="forecast_command", required=True, parser_class=parser_class, metavar="COMMAND")

    p = inner.add_parser("train", help="train a forecaster and backtest it beside the naive baselines",
                         description="Train a forecaster on the training part of SERIES (in time order: train | "
                                     "validation | test), keep the best checkpoint by validation loss, and score the "
                                     "test part with a walk-forward backtest (MAE, RMSE, MAPE, MASE) beside naive, "
                                     "seasonal naive and drift. Writes RUN/config.json, series.csv, scaler.json, "
                                     "model.safetensors, checkpoint.safetensors (resumable), metrics.jsonl, "
                                     "training.png, report.json and backtest.png.")
    p.add_argument("data", metavar="SERIES", nargs="?", help=SERIES_HELP)
    add_run_flags(p)
    add_progress_flag(p)
    g = p.add_argument_group("the series")
    g.add_argument("--target", metavar="COLUMN", help="the column to forecast (default: the only numeric column)")
    g.add_argument("--date-column", metavar="COLUMN", help="the column of dates (default: the first that parses as dates)")
    g.add_argument("--features", type=items, metavar="C1,C2,...", help="more columns the network reads beside the target")
    g.add_argument("--frequency", metavar="ALIAS", help="a pandas frequency such as D, B, W, MS (default: inferred)")
    g.add_argument("--missing", choices=MISSING_POLICIES,
                   help="missing values and absent dates: fill (interpolate, the default), drop, or error; "
                        "the count is reported")
    g.add_argument("--transform", choices=(*TRANSFORMS, "auto"),
                   help="model the log, the difference or the log-difference of the target (inverted on output); "
                        "default auto: log-diff for a positive series that trends (prices, passengers), else none")
    g.add_argument("--lookback", type=int, metavar="N",
                   help="points the network reads before each forecast (default: 4 horizons or 2 seasons, "
                        "whichever is longer, within what the training part allows)")
    g.add_argument("--horizon", type=int, metavar="N",
                   help="points forecast at once (default: one season, e.g. 12 for months, 7 for days, "
                        "5 for business days; else 10)")
    g.add_argument("--val-fraction", type=float, help="share of the series, before the test part, used for validation (default 0.1)")
    g.add_argument("--test-fraction", type=float, help="share at the end kept for the backtest (default 0.1)")
    m = p.add_argument_group("model")
    m.add_argument("--cell", choices=CELLS, help=f"recurrent cell (default {DEFAULT_CELL})")
    m.add_argument("--hidden", dest="hidden_sizes", type=layer_sizes, metavar="SIZES", help="units in each layer (default 64)")
    m.add_argument("--dropout", type=float, help="between layers and before the head (default 0)")
    m.add_argument("--output", choices=OUTPUTS,
                   help="recursive: one step at a time, each forecast fed back in (default); direct: one vector "
                        "for the whole horizon (faster for long horizons)")
    m.add_argument("--distribution", choices=DISTRIBUTIONS,
                   help="point: a forecast per step (default); gaussian: a mean and a spread per step, "
                        "giving prediction intervals")
    m.add_argument("--residual", action=argparse.BooleanOptionalAction, default=None,
                   help="forecast the change from the last value, so an untrained network starts at the naive "
                        "forecast (default: yes)")
    b = p.add_argument_group("backtest")
    b.add_argument("--season", type=int, metavar="N",
                   help="seasonal naive's period and MASE's lag (default: from the frequency, e.g. 12 for months)")
    b.add_argument("--stride", type=int, metavar="N", help="points between backtest origins (default 1)")
    add_training_flags(p, TRAIN_DEFAULTS, monitor=False, batch="windows per batch")

    p = inner.add_parser("backtest", help="re-run a trained forecaster's walk-forward backtest",
                         description="Print the walk-forward backtest of a trained run over its test part, with the "
                                     "baselines in the same table, and draw RUN/backtest.png.")
    p.add_argument("run", metavar="RUN", help="run folder made by lstmlab forecast train")
    p.add_argument("--season", type=int, metavar="N", help="seasonal naive's period and MASE's lag (default: the run's)")
    p.add_argument("--stride", type=int, metavar="N", help="points between origins (default: the run's)")
    p.add_argument("--json", action="store_true", help="print the scores as one JSON object instead")
    add_device_flag(p)

    p = inner.add_parser("predict", help="forecast from the end of the series into a CSV (and a PNG)",
                         description="Forecast --steps points from the end of the run's series. Writes a CSV with "
                                     "columns date,forecast (plus lower,upper for a gaussian model) and a PNG "
                                     "of history and forecast beside it.")
    p.add_argument("run", metavar="RUN", help="run folder made by lstmlab forecast train")
    p.add_argument("--steps", type=int, metavar="N", help="points to forecast (default: the run's horizon)")
    p.add_argument("--out", required=True, metavar="FORECAST.csv", help="the CSV file to write")
    p.add_argument("--png", metavar="PATH", help="the plot to write (default: --out with .png)")
    p.add_argument("--interval", type=float, default=0.9, help="central share of a gaussian forecast's interval (default 0.9)")
    add_device_flag(p)


def run(args: argparse.Namespace) -> None:
    command = args.forecast_command
    if command == "train":
        _train(args)
    elif command == "backtest":
        _backtest(args)
    elif command == "predict":
        _predict(args)


def _train(args) -> None:
    check_seed(args.seed)
    settings = given(args, {"command", "forecast_command", "data", "out", "resume", "show_progress"})
    run_dir = run_folder(args, "SERIES", "a CSV file with --target COLUMN")
    forecast.train(args.data, run_dir, resume=bool(args.resume), show_progress=args.show_progress, **settings)
    print(f"forecast with: lstmlab forecast predict {run_dir} --out forecast.csv")


def check_backtest_flags(season: Optional[int], stride: Optional[int]) -> None:
    """`forecast backtest --season/--stride`, checked as `forecast train` checks them (the
    backtest would read 0 as "the run's own" and a negative season as an index)."""
    BacktestConfig(season=season, stride=1 if stride is None else stride)


def check_predict_steps(steps: Optional[int]) -> None:
    """`forecast predict --steps` (None: the run's horizon); predict itself would read 0 as "not given"."""
    if steps is not None and not 1 <= steps <= MAX_PREDICT_STEPS:
        raise LstmlabError(f"--steps must be between 1 and {MAX_PREDICT_STEPS:,}, got {steps:,}; "
                           "leave it out for the run's horizon")


def _backtest(args) -> None:
    check_backtest_flags(args.season, args.stride)
    run = forecast.load(args.run, device=args.device)
    result = run.backtest(stride=args.stride, season=args.season)
    png = Path(args.run) / forecast.BACKTEST_PNG
    run.plot_backtest(result, png)
    if args.json:
        print(json.dumps({**result.to_dict(), "png": str(png)}))
    else:
        print(f"walk-forward backtest of {args.run} ({len(result.origins)} origins, horizon {run.config.data.horizon}; "
              f"{result.notes_text()}):\n{result.table()}\nplot: {png}")


def _predict(args) -> None:
    check_predict_steps(args.steps)
    out = Path(args.out)
    if out.parent and not out.parent.is_dir():
        raise LstmlabError(f"no such folder for --out: {out.parent}")
    if out.is_dir():
        raise LstmlabError(f"--out {out} is a folder; give a file name such as {out / 'forecast.csv'}")
    png = Path(args.png) if args.png else out.with_suffix(".png")
    if png.parent and not png.parent.is_dir():
        raise LstmlabError(f"no such folder for --png: {png.parent}")
    run = forecast.load(args.run, device=args.device)
    frame = run.predict(args.steps, interval=args.interval)
    save_text_atomic(out, frame.to_csv(index=False))
    run.plot_predictions(frame, png, interval=args.interval)
    print(frame.to_string(index=False, max_rows=20))
    print(f"wrote {out} and {png}")
