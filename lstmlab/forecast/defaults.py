"""Defaults chosen from the series itself, so `lstmlab forecast train SERIES.csv --out RUN`
works on any series without knowing its frequency or length in advance.

    transform "auto" -> log-diff when the target is positive and trends (prices, passenger
                        counts: growth by a percentage), none otherwise (temperatures)
    horizon None     -> one season (12 months, 7 days, 5 business days, 24 hours), else 10,
                        cut so that the validation and test parts each hold one horizon
    lookback None    -> four horizons or two seasons, whichever is longer, cut so that
                        the training part still holds MIN_WINDOWS windows

The chosen values are written into the run's config.json like any other setting.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .backtest import infer_season
from .windows import LOST_ROWS

# A training part whose first and last fifths differ in mean level by more than this
# factor trends: its scale at the end is not its scale at the start.
TREND_RATIO = 1.3
DEFAULT_HORIZON = 10
MIN_WINDOWS = 32


def trends(train: np.ndarray) -> bool:
    """Does the mean level change by more than TREND_RATIO between the first and last fifth?"""
    fifth = max(1, len(train) // 5)
    first, last = float(np.mean(train[:fifth])), float(np.mean(train[-fifth:]))
    return first > 0 and not (1 / TREND_RATIO <= last / first <= TREND_RATIO)


def resolve(config, target: np.ndarray, frequency):
    """`config` with transform "auto", lookback None and horizon None replaced by values for this
    series (target levels (T,)); settings the user gave are kept as they are."""
    n = len(target)
    train = target[:max(2, int(n * (1 - config.val_fraction - config.test_fraction)))]
    changes = {}
    if config.transform == "auto":
        changes["transform"] = "log-diff" if (target > 0).all() and trends(train) else "none"
    season = infer_season(train, frequency)
    horizon = config.horizon
    if horizon is None:
        held_out = [int(round(n * f)) for f in (config.val_fraction, config.test_fraction) if f > 0]
        horizon = max(1, min([season if season > 1 else DEFAULT_HORIZON, *held_out]))
        changes["horizon"] = horizon
    if config.lookback is None:
        # The training part as Splits.of will cut it, after the rows a difference loses.
        rows = n - LOST_ROWS[changes.get("transform", config.transform)]
        train_rows = rows - int(round(rows * config.val_fraction)) - int(round(rows * config.test_fraction))
        room = train_rows - horizon - MIN_WINDOWS + 1  # the longest lookback that leaves MIN_WINDOWS windows
        changes["lookback"] = max(1, min(max(4 * horizon, 2 * season), room))
    return dataclasses.replace(config, **changes)
