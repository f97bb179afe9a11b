"""The forecaster's settings: the series, the network, the backtest and the training defaults.

A run's config.json holds them as ForecastRunConfig: data, model, train (the
task-neutral TrainConfig, lstmlab/config.py) and backtest.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from pandas.tseries.frequencies import to_offset

from ..config import (CELLS, DEFAULT_CELL, MAX_LAYER_SIZE, MAX_SEQUENCE_LENGTH, TrainConfig, build_run_config, read_run_json,
                      require, train_config_from_json)
from ..errors import LstmlabError
from .windows import TRANSFORMS

MISSING_POLICIES = ("fill", "drop", "error")
OUTPUTS = ("direct", "recursive")
DISTRIBUTIONS = ("point", "gaussian")


@dataclass(frozen=True)
class SeriesDataConfig:
    """Which series to read and how to prepare it for a forecaster."""

    source: str = ""  # a CSV file; ignored when load_series is handed a pandas Series/DataFrame
    target: str | None = None  # None: the only numeric column
    date_column: str | None = None  # None: a DatetimeIndex, or the first column that parses as dates, or row numbers
    features: tuple[str, ...] = ()  # extra input columns ("Open,Volume" is split on commas)
    frequency: str | None = None  # a pandas alias (D, B, W, MS, QS, h); None: inferred from the dates
    missing: str = "fill"  # fill: interpolate over time; drop: drop those rows; error: refuse
    # none, log, diff, log-diff, or auto: chosen from the series (defaults.py).
    transform: str = "auto"
    # The last test_fraction of the points is the test part, the val_fraction before it validation.
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    # None: chosen from the series' season and length (defaults.py).
    lookback: int | None = None
    horizon: int | None = None

    def __post_init__(self) -> None:
        features = self.features.split(",") if isinstance(self.features, str) else self.features
        object.__setattr__(self, "features", tuple(str(f).strip() for f in features if str(f).strip()))
        require(self.missing in MISSING_POLICIES, f"unknown --missing {self.missing!r}; choose fill, drop or error")
        require(self.transform in (*TRANSFORMS, "auto"),
                 f"unknown --transform {self.transform!r}; choose one of {', '.join(TRANSFORMS)} or auto")
        require(self.lookback is None or self.lookback >= 1, f"--lookback must be at least 1, got {self.lookback}")
        require(self.horizon is None or self.horizon >= 1, f"--horizon must be at least 1, got {self.horizon}")
        for name, value in (("lookback", self.lookback), ("horizon", self.horizon)):
            if value is not None:
                require(value <= MAX_SEQUENCE_LENGTH, f"--{name} must be at most {MAX_SEQUENCE_LENGTH:,} points, got "
                                                      f"{value:,}; leave it out to choose it from the series")
        require(0.0 <= self.val_fraction < 1.0 and 0.0 <= self.test_fraction < 1.0
                 and self.val_fraction + self.test_fraction < 1.0,
                 f"--val-fraction and --test-fraction must be in [0, 1) with room left for training, "
                 f"got {self.val_fraction} and {self.test_fraction}; try 0.1 and 0.1")
        require(len(set(self.features)) == len(self.features), f"--features repeats a column: {','.join(self.features)}")
        require(self.target is None or self.target not in self.features,
                 f"--features lists the target {self.target!r}; the target is always an input, so leave it out")
        if self.frequency is not None:
            try:
                to_offset(self.frequency)
            except ValueError as exc:
                raise LstmlabError(f"unknown --frequency {self.frequency!r} ({str(exc).splitlines()[0]}); "
                                   "use a pandas alias such as D, B, W, MS, QS or h, or leave it out to infer it") from None


@dataclass(frozen=True)
class ForecasterConfig:
    """Recurrent layers -> a head for the next `horizon` values of feature 0."""

    input_size: int
    horizon: int
    cell: str = DEFAULT_CELL
    hidden_sizes: tuple[int, ...] = (64,)
    # Between recurrent layers and before the head (not on recurrent connections).
    dropout: float = 0.0
    output: str = "recursive"
    distribution: str = "point"
    residual: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        require(self.input_size >= 1, f"input_size (the number of input features) must be at least 1, got {self.input_size}")
        require(self.horizon >= 1, f"--horizon must be at least 1, got {self.horizon}")
        require(self.horizon <= MAX_SEQUENCE_LENGTH,
                f"--horizon must be at most {MAX_SEQUENCE_LENGTH:,} points, got {self.horizon:,}; leave it out to choose it from the series")
        require(self.cell in CELLS, f"unknown --cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        require(len(self.hidden_sizes) >= 1 and all(h >= 1 for h in self.hidden_sizes),
                 f"--hidden needs positive layer sizes such as 64 or 64,32, got {','.join(map(str, self.hidden_sizes)) or 'nothing'}")
        require(max(self.hidden_sizes) <= MAX_LAYER_SIZE,
                 f"--hidden layer sizes must be at most {MAX_LAYER_SIZE:,}, got {max(self.hidden_sizes):,}; try 64")
        require(0.0 <= self.dropout < 1.0, f"--dropout must be in [0, 1), got {self.dropout}")
        require(self.output in OUTPUTS, f"unknown --output {self.output!r}; choose {' or '.join(OUTPUTS)}")
        require(self.distribution in DISTRIBUTIONS,
                 f"unknown --distribution {self.distribution!r}; choose {' or '.join(DISTRIBUTIONS)}")
        require(isinstance(self.residual, bool), f"--residual must be true or false, got {self.residual!r}")

    @property
    def gaussian(self) -> bool:
        return self.distribution == "gaussian"

    @property
    def steps_per_head(self) -> int:
        """How many future steps one application of the head predicts."""
        return self.horizon if self.output == "direct" else 1


@dataclass(frozen=True)
class BacktestConfig:
    """How the test part is scored."""

    # Seasonal naive's period, and MASE's lag; None: inferred from the frequency
    # or, failing that, the autocorrelation of the training part.
    season: Optional[int] = None
    # Points between consecutive forecast origins.
    stride: int = 1

    def __post_init__(self) -> None:
        require(self.season is None or self.season >= 1, f"--season must be at least 1, got {self.season}")
        require(self.stride >= 1, f"--stride must be at least 1, got {self.stride}")


@dataclass(frozen=True)
class ForecastRunConfig:
    """Everything needed to rebuild a forecasting run: RUN/config.json."""

    data: SeriesDataConfig
    model: ForecasterConfig
    train: TrainConfig
    backtest: BacktestConfig = BacktestConfig()
    kind: str = "forecaster"
    version: str = ""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> "ForecastRunConfig":
        raw = read_run_json(path, "lstmlab forecast train", kind="forecaster")
        raw = {**raw, "train": train_config_from_json(raw.get("train", {}), f"{path}.train")}
        parts = {"data": SeriesDataConfig, "model": ForecasterConfig, "train": TrainConfig, "backtest": BacktestConfig}
        return build_run_config(cls, raw, parts, str(path), version=str(raw.get("version", "")))


# Training defaults for forecasters, where they differ from the language model's:
# small series give few windows, so many short epochs; float32, because bf16's
# 8-bit mantissa is coarser than the differences a forecaster must learn.
TRAIN_DEFAULTS: dict[str, Any] = dict(lr=3e-3, batch_size=32, warmup_steps=0, epochs=300.0, minutes=5.0,
                                      patience=50, precision="fp32", weight_decay=0.0, ema_decay=0.0)
