"""Time series for forecasting: loading, missing values, transforms, splits, scaling, windows.

    CSV or pandas --load_series--> LoadedSeries: levels (T, F) on a date index, checked and filled
                  --apply_transform--> model values (T', F): the target as log / diff / log-diff
                  --Splits--> train | val | test, in time order (never shuffled)
                  --Scaler.fit(training rows only)--> standardised values
                  --make_windows--> inputs (N, lookback, F), targets (N, horizon)

Column 0 is always the target; the features follow in the order given. The
transform applies to the target only (a log or a difference suits prices, not
volumes); features are only standardised. `prepare_series` runs the last three
steps and turns forecasts back into levels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from ..errors import LstmlabError
from . import defaults
from .config import SeriesDataConfig
from .windows import (
    LOST_ROWS,
    Scaler,
    apply_transform,
    invert_transform,
    make_windows,
    window_starts,
)

PARTS = ("train", "val", "test")
# Frequencies whose calendar gaps are market holidays, not missing values.
TRADING_DAYS = ("B", "C")
# Tried (coarsest first) when pandas cannot infer a frequency because of gaps; nominal length in days.
CALENDARS = (("YS", 365.0), ("YE", 365.0), ("QS", 91.0), ("QE", 91.0), ("MS", 28.0), ("ME", 28.0), ("W", 7.0),
             ("B", 1.0), ("D", 1.0), ("h", 1 / 24), ("min", 1 / 1440), ("s", 1 / 86400))


@dataclass(frozen=True)
class MissingReport:
    """What was done about missing values: printed at load time and saved with a run."""

    policy: str
    per_column: dict  # column -> missing cells found (after inserting absent calendar dates)
    inserted_dates: tuple[str, ...] = ()  # dates absent from the calendar, added as rows to fill
    dropped_rows: int = 0

    @property
    def total(self) -> int:
        return int(sum(self.per_column.values()))

    def __str__(self) -> str:
        if not self.total:
            return "no missing values"
        counts = ", ".join(f"{c}: {n}" for c, n in self.per_column.items() if n)
        inserted = f", including {len(self.inserted_dates)} absent date(s) inserted" if self.inserted_dates else ""
        if self.policy == "drop":
            return f"dropped {self.dropped_rows} row(s) with missing values ({counts})"
        return f"filled {self.total} missing value(s) by interpolation ({counts}{inserted})"


@dataclass(frozen=True)
class Splits:
    """Counts of the chronological parts: rows [0, train) | [train, train+val) | [train+val, total)."""

    train: int
    val: int
    test: int

    @classmethod
    def of(cls, n: int, val_fraction: float, test_fraction: float) -> Splits:
        test, val = int(round(n * test_fraction)), int(round(n * val_fraction))
        return cls(max(n - val - test, 0), val, test)

    @property
    def total(self) -> int:
        return self.train + self.val + self.test

    def bounds(self, part: str) -> tuple[int, int]:
        """(start, stop) rows of "train", "val" or "test"."""
        cut = self.train + self.val
        return {"train": (0, self.train), "val": (self.train, cut), "test": (cut, self.total)}[part]


@dataclass(frozen=True)
class LoadedSeries:
    """Levels as read (missing values handled), before any transform or scaling."""

    config: SeriesDataConfig
    frame: pd.DataFrame  # (T, F) float64; columns (target, *features); DatetimeIndex or row numbers
    frequency: str | None
    missing: MissingReport
    notes: tuple[str, ...]
    source: str

    @property
    def target(self) -> str:
        return str(self.frame.columns[0])

    @property
    def levels(self) -> np.ndarray:
        return self.frame.to_numpy(dtype=np.float64)  # (T, F)

    @property
    def lost(self) -> int:
        return LOST_ROWS[self.config.transform]

    @property
    def model_values(self) -> np.ndarray:
        """(T - lost, F): what the model reads, before scaling; model row i is level row i + lost."""
        return apply_transform(self.levels, self.config.transform)

    @property
    def splits(self) -> Splits:
        return Splits.of(len(self.frame) - self.lost, self.config.val_fraction, self.config.test_fraction)

    def last_levels(self, target_starts: np.ndarray) -> np.ndarray:
        """The target's level just before model row t, for each t: what a diff forecast starts from."""
        rows = np.asarray(target_starts) + self.lost - 1
        assert (rows >= 0).all(), "a forecast needs at least one known level before it"
        return self.levels[rows, 0]

    def describe(self) -> str:
        s, index = self.splits, self.frame.index
        span = f"{index[0].date()}..{index[-1].date()}, " if isinstance(index, pd.DatetimeIndex) else ""
        return (f"{self.source}: {len(self.frame)} points of {self.target} ({span}frequency {self.frequency or 'none'}); "
                f"{self.missing}; train {s.train} / val {s.val} / test {s.test}"
                + "".join(f"; {note}" for note in self.notes))


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def load_series(config: SeriesDataConfig, data: pd.Series | pd.DataFrame | None = None) -> LoadedSeries:
    """Read config.source (or `data`), parse dates and numbers, handle missing values,
    and check there are enough points for the lookback, the horizon and the splits."""
    frame, source, from_file = _read_frame(config, data)
    if not len(frame):
        raise LstmlabError(f"{source} holds no rows of data, only a header; give a series with at least "
                           f"lookback + horizon points (and more for validation and test)")
    where = (lambda i: f"line {i + 2}") if from_file else (lambda i: f"row {i}")
    columns = [str(c) for c in frame.columns]
    dates, date_name = _find_dates(frame, config, source, columns, where)
    target = _resolve_target(config, source, columns, date_name)
    for name, flag in [(target, "--target"), *((f, "--features") for f in config.features)]:
        if name not in columns:
            raise LstmlabError(f"{flag} {name!r} is not a column of {source}; its columns are: {', '.join(columns)}")
    used = [target, *config.features]
    values = pd.DataFrame({c: _numbers(frame[c], c, source, where) for c in used})
    notes: list[str] = []
    if dates is None:
        values.index = pd.RangeIndex(len(values))
        notes.append("no date column: rows are read as equally spaced steps")
        frequency, inserted = None, ()
    else:
        values.index = pd.DatetimeIndex(dates, name=date_name)
        values = _sorted_unique(values, source, notes)
        frequency, values, inserted = _calendar(values, config, source, notes)
    values, report = _handle_missing(values, config, source, inserted)
    config = defaults.resolve(config, values[target].to_numpy(dtype=np.float64), frequency)
    if config.transform in ("log", "log-diff") and (values[target] <= 0).any():
        bad = values.index[(values[target] <= 0).to_numpy()]
        raise LstmlabError(f"--transform {config.transform} needs positive values, but {target!r} has {len(bad)} value(s) "
                           f"<= 0 (first at {_when(bad[0])}); use --transform diff or none")
    loaded = LoadedSeries(config, values, frequency, report, tuple(notes), source)
    _check_length(loaded)
    return loaded


def _read_frame(config: SeriesDataConfig, data) -> tuple[pd.DataFrame, str, bool]:
    if isinstance(data, pd.Series):
        name = data.name if data.name is not None else (config.target or "value")
        return data.to_frame(name=str(name)), f"the Series {name!r}", False
    if isinstance(data, pd.DataFrame):
        return data, "the DataFrame", False
    if data is not None:
        raise LstmlabError(f"load_series reads a pandas Series or DataFrame, got {type(data).__name__}; "
                           "convert it with pandas.Series(...) or pass a CSV path as source")
    path = Path(config.source)
    if not config.source or not path.is_file():
        raise LstmlabError(f"no such file: {config.source or '(none given)'}; give a CSV file with a header row such as Date,Close")
    try:
        frame = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise LstmlabError(f"{path} is empty; give a CSV file with a header row such as Date,Close") from None
    except UnicodeDecodeError as exc:
        raise LstmlabError(f"{path} is not valid UTF-8 (byte 0x{exc.object[exc.start]:02x}); save it as UTF-8") from None
    except pd.errors.ParserError as exc:
        raise LstmlabError(f"{path} is not a readable CSV ({str(exc).strip()}); check its commas and quotes") from None
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    return frame, str(path), True


def _parse_dates(raw: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_datetime64_any_dtype(raw):
        return pd.Series(pd.NaT, index=raw.index)  # numbers are values, never dates (no epoch guessing)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "could not infer format": dateutil is fine for a few thousand rows
        try:
            return pd.to_datetime(raw, errors="coerce")
        except (ValueError, TypeError):  # e.g. mixed time zones
            return pd.Series(pd.NaT, index=raw.index)


def _find_dates(frame, config, source, columns, where):
    """(dates or None, their name). An explicit --date-column must parse completely."""
    if config.date_column is not None:
        name = config.date_column
        if name not in columns:
            raise LstmlabError(f"--date-column {name!r} is not a column of {source}; its columns are: {', '.join(columns)}")
        raw = frame[name]
        parsed = _parse_dates(raw)
        if parsed.isna().any():
            i = int(np.flatnonzero(parsed.isna().to_numpy())[0])
            raise LstmlabError(f"{source}: {name!r} holds {raw.iloc[i]!r} at {where(i)}, which is not a date; "
                               f"fix that row, or name the date column with --date-column")
        return parsed.to_numpy(), name
    if isinstance(frame.index, (pd.DatetimeIndex, pd.PeriodIndex)):
        index = frame.index if isinstance(frame.index, pd.DatetimeIndex) else frame.index.to_timestamp()
        return index.to_numpy(), frame.index.name or "date"
    for name in columns:
        if name == config.target or name in config.features:
            continue
        raw = frame[name]
        present = raw.notna()
        if pd.api.types.is_datetime64_any_dtype(raw) and present.all():  # parsed already (read_csv parse_dates)
            return raw.to_numpy(), name
        if present.any() and pd.to_numeric(raw[present], errors="coerce").isna().any():  # not a column of numbers
            parsed = _parse_dates(raw)
            if parsed[present].notna().all():
                if not present.all():
                    i = int(np.flatnonzero(~present.to_numpy())[0])
                    raise LstmlabError(f"{source}: the date column {name!r} is empty at {where(i)}; "
                                       "give that row its date or remove it")
                return parsed.to_numpy(), name
    return None, None


def _resolve_target(config, source, columns, date_name) -> str:
    if config.target is not None:
        return config.target
    others = [c for c in columns if c != date_name and c not in config.features]
    if len(others) != 1:
        raise LstmlabError(f"choose the column to forecast with --target; the columns of {source} are: {', '.join(columns)}")
    return others[0]


def _numbers(raw: pd.Series, column: str, source: str, where) -> pd.Series:
    values = pd.to_numeric(raw, errors="coerce").astype(np.float64)
    bad = (raw.notna() & ~np.isfinite(values.fillna(0.0))) | (raw.notna() & values.isna())
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        if raw.notna().all() and _parse_dates(raw).notna().all():  # a date column named as --target or --features
            raise LstmlabError(f"{source}: column {column!r} holds dates ({raw.iloc[i]!r} at {where(i)}), not numbers; "
                               "choose numeric columns for --target and --features (the dates are found by themselves)")
        raise LstmlabError(f"{source}: column {column!r} holds {raw.iloc[i]!r} at {where(i)}, which is not a number "
                           f"({int(bad.sum())} such cell(s)); fix them, or empty them so that --missing handles them")
    return values.reset_index(drop=True)


def _when(moment) -> str:
    """A date without a midnight time of day; row numbers as they are."""
    if isinstance(moment, pd.Timestamp) and moment == moment.normalize():
        return str(moment.date())
    return str(moment)


def _sorted_unique(values: pd.DataFrame, source: str, notes: list) -> pd.DataFrame:
    duplicated = values.index[values.index.duplicated()]
    if len(duplicated):
        raise LstmlabError(f"{source}: the date {_when(duplicated[0])} appears more than once ({len(duplicated)} repeated date(s)); "
                           "remove the duplicates or aggregate them (e.g. one row per day) before loading")
    if not values.index.is_monotonic_increasing:
        notes.append("rows were not in date order and were sorted")
        values = values.sort_index(kind="stable")
    return values


def _infer_frequency(index: pd.DatetimeIndex) -> str | None:
    if len(index) < 3:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas 3 warns that infer_freq will return an offset
        found = pd.infer_freq(index)
    return None if found is None else getattr(found, "freqstr", found)


def _calendar(values: pd.DataFrame, config: SeriesDataConfig, source: str, notes: list):
    """Settle the frequency; return it, the frame with absent calendar dates inserted as
    empty rows (unless --missing drop, or trading days), and those dates."""
    index = values.index
    frequency = config.frequency or _infer_frequency(index)
    if frequency is None and len(index) >= 3:
        step = (index[1:] - index[:-1]).median() / pd.Timedelta(days=1)
        for code, days in CALENDARS:  # coarsest calendar that holds every date: fewest absent dates
            if not step / 100 <= days <= step * 1.1:
                continue
            try:
                code = to_offset(code if code != "W" else f"W-{index[0].day_name()[:3].upper()}").freqstr
            except ValueError:  # an alias this pandas version does not know (ME, QE, YE before 2.2)
                continue
            if index.isin(pd.date_range(index[0], index[-1], freq=code)).all():
                frequency = code
                notes.append(f"dates are not evenly spaced: frequency {code} chosen as the calendar that holds them all")
                break
        else:
            notes.append(f"dates are irregular (median spacing {step:g} days): rows are read as equally spaced steps")
            return None, values, ()
    if frequency is None:
        return None, values, ()
    calendar = pd.date_range(index[0], index[-1], freq=frequency)
    if not index.isin(calendar).all():
        off = index[~index.isin(calendar)][0]
        raise LstmlabError(f"{source}: the date {off.date()} does not fall on the {frequency} calendar; "
                           "pass the right --frequency, or leave it out to infer it")
    absent = calendar.difference(index)
    if not len(absent):
        return frequency, values, ()
    if to_offset(frequency).rule_code in TRADING_DAYS:
        notes.append(f"frequency {frequency}: {len(absent)} weekday(s) without a row are taken as holidays, not missing values")
        return frequency, values, ()
    shown = ", ".join(str(d.date()) for d in absent[:3]) + (", ..." if len(absent) > 3 else "")
    if config.missing == "error":
        raise LstmlabError(f"{source}: {len(absent)} date(s) of the {frequency} calendar are absent ({shown}); "
                           "pass --missing fill to interpolate them, or --missing drop to go on without them")
    if config.missing == "drop":
        notes.append(f"{len(absent)} date(s) absent from the {frequency} calendar were left out ({shown})")
        return frequency, values, ()
    return frequency, values.reindex(calendar), tuple(str(d.date()) for d in absent)


def _handle_missing(values: pd.DataFrame, config: SeriesDataConfig, source: str, inserted: tuple):
    counts = {str(c): int(n) for c, n in values.isna().sum().items()}
    empty = [c for c in values.columns if values[c].isna().all()]
    if empty:
        raise LstmlabError(f"{source}: column {empty[0]!r} has no values; pick another --target/--features column")
    report = MissingReport(config.missing, counts, inserted)
    if not report.total:
        return values, report
    first = values.index[values.isna().any(axis=1).to_numpy()][0]
    if config.missing == "error":
        raise LstmlabError(f"{source} has {report.total} missing value(s) (first at {_when(first)}); "
                           "pass --missing fill to interpolate them, or --missing drop to drop those rows")
    if config.missing == "drop":
        kept = values.dropna()
        return kept, MissingReport("drop", counts, (), len(values) - len(kept))
    # A straight line between the neighbours is the best guess of a missing reading; a forward
    # fill would make flat steps that flatter the naive baseline. Edges take the nearest value.
    method = "time" if isinstance(values.index, pd.DatetimeIndex) else "linear"
    return values.interpolate(method=method, limit_direction="both"), report


def _check_length(loaded: LoadedSeries) -> None:
    c, s = loaded.config, loaded.splits
    short_val = c.val_fraction > 0 and s.val < c.horizon
    short_test = c.test_fraction > 0 and s.test < c.horizon
    if s.train < c.lookback + c.horizon or short_val or short_test:
        after = f" after the {c.transform} transform" if loaded.lost else ""
        raise LstmlabError(
            f"{loaded.source} has {s.total} points{after} (train {s.train} / val {s.val} / test {s.test}), too few: "
            f"one training window needs lookback {c.lookback} + horizon {c.horizon} = {c.lookback + c.horizon} training "
            f"points, and validation and test need {c.horizon} each; lower --lookback or --horizon, or give a longer series")


# ---------------------------------------------------------------------------
# Prepared for a model
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedSeries:
    """A loaded series transformed, split and scaled: ready for windows."""

    loaded: LoadedSeries
    scaler: Scaler
    values: np.ndarray  # (T', F) float32, transformed and standardised

    def target_starts(self, part: str) -> np.ndarray:
        c = self.loaded.config
        return window_starts(len(self.values), c.lookback, c.horizon, *self.loaded.splits.bounds(part))

    def windows(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        c = self.loaded.config
        return make_windows(self.values, 0, c.lookback, c.horizon, *self.loaded.splits.bounds(part))

    def to_levels(self, scaled: np.ndarray, target_starts: np.ndarray) -> np.ndarray:
        """Model outputs (N, horizon) for windows starting at target_starts (N,) -> levels (N, horizon)."""
        unscaled = self.scaler.inverse(scaled, column=0)
        last = self.loaded.last_levels(target_starts) if self.loaded.lost else None
        return invert_transform(unscaled, self.loaded.config.transform, last)


def prepare_series(loaded: LoadedSeries) -> PreparedSeries:
    model_values = loaded.model_values  # (T', F)
    scaler = Scaler.fit(model_values[:loaded.splits.train])  # training rows only
    return PreparedSeries(loaded, scaler, scaler.transform(model_values).astype(np.float32))
