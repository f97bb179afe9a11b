"""Transforms, scaling and windows: the arithmetic between a loaded series and a model.

    levels (T, F) --apply_transform--> model values (T - lost, F) --Scaler--> standardised
                  --make_windows--> inputs (N, lookback, F), targets (N, horizon)

and back: invert_transform turns forecasts of the target (log, differences)
into levels. Column 0 is the target; only it is transformed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

TRANSFORMS = ("none", "log", "diff", "log-diff")
# Rows a transform loses at the start: a difference needs the level before it.
LOST_ROWS = {"none": 0, "log": 0, "diff": 1, "log-diff": 1}




def apply_transform(values: np.ndarray, kind: str, column: int = 0) -> np.ndarray:
    """Levels (T, F) or (T,) -> (T - lost, ...): `column` transformed, the other columns
    trimmed to stay aligned. Row i of the result is about level row i + lost."""
    if kind not in TRANSFORMS:
        raise ValueError(f"unknown transform {kind!r}; choose one of {TRANSFORMS}")
    values = np.asarray(values, dtype=np.float64)
    out = values[LOST_ROWS[kind]:].copy()
    target = out[:, column] if values.ndim == 2 else out  # a view: filled in place
    source = values[:, column] if values.ndim == 2 else values
    if kind != "none":
        logged = np.log(source) if kind in ("log", "log-diff") else source
        target[:] = np.diff(logged) if kind in ("diff", "log-diff") else logged
    return out


def invert_transform(values: np.ndarray, kind: str, last_level=None) -> np.ndarray:
    """Transformed target values (..., H), for H consecutive steps, back to levels.
    diff and log-diff need `last_level` (...,): the known level just before the first step;
    the differences are summed from it (log-diff: in log space, then exp)."""
    values = np.asarray(values, dtype=np.float64)
    if kind == "none":
        return values.copy()
    if kind == "log":
        return np.exp(values)
    if kind not in ("diff", "log-diff"):
        raise ValueError(f"unknown transform {kind!r}; choose one of {TRANSFORMS}")
    if last_level is None:
        raise ValueError(f"inverting {kind} needs the last known level before the forecast")
    start = np.asarray(last_level, dtype=np.float64)[..., None]  # (..., 1)
    if kind == "diff":
        return start + np.cumsum(values, axis=-1)
    return np.exp(np.log(start) + np.cumsum(values, axis=-1))


@dataclass(frozen=True)
class Scaler:
    """Per-column standardisation, fitted on the training part only so that nothing
    about the validation or test parts (their level, their spread) leaks into training."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, train: np.ndarray) -> Scaler:
        train = np.asarray(train, dtype=np.float64).reshape(len(train), -1)  # (T_train, F)
        std = train.std(axis=0)
        std[std == 0] = 1.0  # a constant column stays constant instead of dividing by zero
        return cls(tuple(map(float, train.mean(axis=0))), tuple(map(float, std)))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) - np.array(self.mean)) / np.array(self.std)  # (..., F)

    def inverse(self, values: np.ndarray, column: int | None = None) -> np.ndarray:
        """(..., F) back to original units; with `column`, any array of that column's values."""
        values = np.asarray(values, dtype=np.float64)
        if column is None:
            return values * np.array(self.std) + np.array(self.mean)
        return values * self.std[column] + self.mean[column]

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, raw: dict) -> Scaler:
        return cls(tuple(float(v) for v in raw["mean"]), tuple(float(v) for v in raw["std"]))


def window_starts(length: int, lookback: int, horizon: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Row t of the first target of every window whose targets all lie in rows [start, stop).

        rows:      0 ..... t-lookback ...... t-1 | t ...... t+horizon-1 | ...
        inputs:            [---- lookback -----]
        targets:                                 [------ horizon ------]

    A window belongs to the part its targets fall in; its inputs may reach back
    into the parts before (validation windows read the end of training, test
    windows the end of validation), which is what a forecaster sees in use.
    """
    stop = length if stop is None else stop
    first, last = max(start, lookback), stop - horizon
    return np.arange(first, last + 1) if last >= first else np.zeros(0, dtype=np.int64)


def make_windows(values: np.ndarray, target_index: int, lookback: int, horizon: int,
                 start: int = 0, stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(T, F) values -> inputs (N, lookback, F) = values[t-lookback:t] and targets
    (N, horizon) = values[t:t+horizon, target_index], for t = window_starts(...)."""
    values = np.asarray(values, dtype=np.float32)  # (T, F)
    t = window_starts(len(values), lookback, horizon, start, stop)  # (N,)
    if not len(t):
        return np.zeros((0, lookback, values.shape[1]), np.float32), np.zeros((0, horizon), np.float32)
    inputs = sliding_window_view(values, lookback, axis=0)[t - lookback]  # (N, F, lookback)
    targets = sliding_window_view(values[:, target_index], horizon)[t]  # (N, horizon)
    return np.ascontiguousarray(inputs.transpose(0, 2, 1)), np.ascontiguousarray(targets)
