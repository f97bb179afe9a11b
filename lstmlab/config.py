"""Task-neutral settings: the training loop's config, and reading any run's config.json.

Every task keeps its own config dataclasses in its package (lm/config.py,
classify/config.py, forecast/config.py); this module holds what they share.
Change a setting with `dataclasses.replace(cfg, field=value)`; unknown keys in a
JSON file are errors, never silently ignored. Every check that can be made
before training starts is made in the dataclasses, so a bad flag fails in a
second with a message that names the fix instead of after ten minutes of training.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Optional

from .cells import CELLS, DEFAULT_CELL
from .errors import LstmlabError

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
SCHEDULES = ("constant", "cosine", "step", "plateau", "slanted")
# The TrainConfig fields that bound a run; --resume may change only these.
BUDGET_FIELDS = ("max_steps", "epochs", "minutes")
# Fields TrainConfig held before each task had its own config (they were the
# language model's). Runs saved then carry them in "train"; readers move or drop them.
RETIRED_TRAIN_FIELDS = ("objective", "seq_len", "window", "step", "eval_chars")


def require(ok: bool, message: str) -> None:
    """A config check: raise a one-line LstmlabError with `message` unless `ok`."""
    if not ok:
        raise LstmlabError(message)


# Upper bounds of the sizes a flag sets, checked up front so that a typo or an absurd
# value (10**12) gets a one-line error, not a MemoryError or an endless run later on.
# They are typo guards, not memory estimates: each is sixty times and more what the runs
# in BENCHMARKS.md use (layers of up to 1,024 units, batches of up to 128, chunks of 128
# steps), so saved runs hold far less. A 65,536-unit LSTM layer already has 17 billion weights.
MAX_LAYER_SIZE = 65_536
MAX_BATCH_SIZE = 1_000_000
# Time steps of one sequence (--seq-len, --window, --lookback, --horizon): back-propagation
# through 100,000 steps keeps every step's activations, gigabytes per sequence.
MAX_SEQUENCE_LENGTH = 100_000
# Symbols of a language model's vocabulary (summary's --vocab-size): word-level vocabularies
# of real corpora stay under a million (WikiText-103: 267,735), and each symbol costs a row
# of the embedding and of the output layer.
MAX_VOCAB_SIZE = 10_000_000


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, budget and bookkeeping: the settings of the training loop that every task shares."""

    batch_size: int = 32
    optimizer: str = "adam"
    # SGD's momentum. 0 is plain SGD, torch's default and the PyTorch word_language_model's
    # recipe (lr 20, clip 0.25); with 0.9, lr 20 steps ten times as far and the model learns
    # far worse (BENCHMARKS.md §17). Runs saved before this field trained with 0.9 and load so.
    momentum: float = 0.0
    lr: float = 3e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup_steps: int = 50
    # cosine decays to lr * min_lr_ratio; step multiplies by gamma every
    # decay_every steps; plateau multiplies by gamma after `plateau_patience`
    # evaluations without improvement; slanted is ULMFiT's slanted triangular
    # rate (trainer.learning_rate): up for the first tenth of the budget, then down.
    min_lr_ratio: float = 0.1
    gamma: float = 0.5
    decay_every: int = 1000
    plateau_patience: int = 2
    # Gradient-norm clipping is on by default: recurrent nets multiply by the
    # same weights at every step, so gradients can explode over long sequences.
    clip_grad_norm: float = 1.0
    # Validation scores, and the best checkpoint keeps, an exponential moving average of
    # the weights with this decay (averaging.py); 0 scores the weights as they are.
    ema_decay: float = 0.998
    # AWD-LSTM's non-monotone averaged SGD (NT-ASGD) in place of the moving average: no average
    # until a validation loss fails to beat the best of those before the last `nt_asgd`, then
    # the plain mean of the weights of every step since (averaging.py). 0 turns it off; when on,
    # ema_decay is unused. 0 in runs saved before it existed.
    nt_asgd: int = 0
    # Budget: whichever of these comes first stops training. With none given,
    # `minutes` applies.
    minutes: Optional[float] = 10.0
    epochs: Optional[float] = None
    max_steps: Optional[int] = None
    eval_every: int = 250
    # The training loss (with learning rate, speed and gradient norm) is recorded
    # in metrics.jsonl every log_every steps, so curves have points between validations.
    log_every: int = 10
    # Early stopping: stop after this many evaluations without improvement
    # (0 turns it off).
    patience: int = 5
    seed: int = 0
    # Matrix products in training run in bfloat16 (weights, optimiser and loss
    # stay float32) where the CPU has native bf16 instructions: about twice
    # the characters per second. "auto" picks bf16 only on such CPUs.
    precision: str = "auto"

    def __post_init__(self) -> None:
        require(self.optimizer in OPTIMIZERS, f"unknown --optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        require(self.precision in PRECISIONS, f"unknown --precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")
        require(self.schedule in SCHEDULES, f"unknown --schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        for name in ("batch_size", "eval_every", "decay_every", "log_every"):
            value = getattr(self, name)
            require(value >= 1, f"--{name.replace('_', '-')} must be at least 1, got {value}")
        require(self.batch_size <= MAX_BATCH_SIZE,
                f"--batch-size must be at most {MAX_BATCH_SIZE:,}, got {self.batch_size:,}; try 32")
        require(self.lr > 0 and math.isfinite(self.lr), f"--lr must be a positive number, got {self.lr}")
        require(self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}")
        require(0 <= self.momentum < 1, f"--momentum must be in [0, 1), got {self.momentum}; try 0 or 0.9")
        require(self.warmup_steps >= 0, f"--warmup-steps must be >= 0, got {self.warmup_steps}")
        require(0 < self.gamma <= 1, f"--gamma must be in (0, 1], got {self.gamma}")
        require(0 <= self.min_lr_ratio <= 1, f"--min-lr-ratio must be in [0, 1], got {self.min_lr_ratio}")
        require(self.clip_grad_norm >= 0, f"--clip must be >= 0 (0 turns clipping off), got {self.clip_grad_norm}")
        require(0 <= self.ema_decay < 1, f"--ema-decay must be in [0, 1) (0 turns averaging off), got {self.ema_decay}")
        require(self.patience >= 0, f"--patience must be >= 0, got {self.patience}")
        require(self.nt_asgd >= 0, f"--nt-asgd must be >= 0 (validations; 0 turns it off), got {self.nt_asgd}; try 5")
        # 0 was accepted (and unused) with the other schedules before, so saved runs may hold it.
        require(self.plateau_patience >= (1 if self.schedule == "plateau" else 0),
                f"--plateau-patience must be at least 1 (validations without improvement before the rate drops), "
                f"got {self.plateau_patience}")
        require(self.minutes is None or self.minutes > 0, f"--minutes must be positive, got {self.minutes}")
        require(self.epochs is None or self.epochs > 0, f"--epochs must be positive, got {self.epochs}")
        require(self.max_steps is None or self.max_steps >= 1, f"--steps must be at least 1, got {self.max_steps}")


def check_resume_settings(settings: dict[str, Any]) -> None:
    """--resume keeps a run's saved settings; only its budget may be extended."""
    extra = set(settings) - set(BUDGET_FIELDS)
    if extra:
        raise LstmlabError(
            f"--resume continues a run with its saved settings; only the budget (--steps, --epochs, --minutes) "
            f"can be given, not {', '.join(sorted(extra))}. Start a new run with --out to change them")


def task_train_config(defaults: dict[str, Any], overrides: dict[str, Any],
                      steps_per_epoch: Optional[int] = None) -> "TrainConfig":
    """A task's TrainConfig: its own defaults (TRAIN_DEFAULTS of classification, forecasting),
    then the user's settings. A budget the user gives replaces the default budgets it does not
    name (--steps 500 alone means 500 steps, not "500 steps or the default 10 minutes"). Given
    steps_per_epoch, validation runs once an epoch unless --eval-every says otherwise."""
    merged = {**defaults, **overrides}
    if any(k in overrides for k in BUDGET_FIELDS):
        for k in BUDGET_FIELDS:
            if k not in overrides:
                merged[k] = None
    if merged.get("eval_every") is None and steps_per_epoch is not None:
        merged["eval_every"] = steps_per_epoch
    return TrainConfig(**merged)


def field_names(config: type, *leave_out: str) -> set[str]:
    """The settings a config dataclass takes by name, less those a task fills in itself."""
    return {f.name for f in fields(config)} - set(leave_out)


def split_settings(settings: dict[str, Any], owners: dict[str, set[str]]) -> dict[str, dict[str, Any]]:
    """Route keyword settings to the part that owns them (owners: part -> its setting names),
    so each config gets its own; a name no part owns is an error that lists the known ones."""
    parts: dict[str, dict[str, Any]] = {name: {} for name in owners}
    for key, value in settings.items():
        owner = next((name for name, names in owners.items() if key in names), None)
        if owner is None:
            known = sorted(set().union(*owners.values()))
            raise LstmlabError(f"unknown setting {key!r}; known settings: {', '.join(known)}")
        parts[owner][key] = value
    return parts


def read_run_json(path: Path, command: str, kind: Optional[str] = None) -> dict[str, Any]:
    """A run's config.json as a dict, or a one-line error naming the fix. With `kind`, the
    file must say it is that kind of run (made by `command`)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LstmlabError(f"{path} is missing; is {Path(path).parent} a run folder made by `{command}`?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LstmlabError(f"{path} is not valid JSON ({exc}); restore it or retrain the run") from None
    if not isinstance(raw, dict):
        raise LstmlabError(f"{path} should hold a JSON object; restore it or retrain the run")
    if kind is not None and raw.get("kind") != kind:
        raise LstmlabError(f"{Path(path).parent} is not a {kind} run (made by `{command}`)")
    return raw


def build_run_config(cls: type, raw: dict[str, Any], parts: dict[str, type], where: str, **scalars: Any) -> Any:
    """`cls` from a run's JSON: each part (data, model, train, ...) built and checked for
    unknown keys, plus the scalar fields given."""
    reject_unknown(raw, {f.name for f in fields(cls)}, where)
    built = {name: build_part(kind, raw.get(name, {}), f"{where}.{name}") for name, kind in parts.items()}
    try:
        return cls(**built, **scalars)
    except TypeError as exc:
        raise LstmlabError(f"{where}: {exc}") from None


def reject_unknown(raw: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise LstmlabError(f"unknown setting(s) {', '.join(unknown)} in {where}; known: {', '.join(sorted(known))}")


def build_part(kind: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise LstmlabError(f"{where} should be a JSON object")
    reject_unknown(raw, {f.name for f in fields(kind)}, where)
    try:
        return kind(**raw)
    except TypeError as exc:  # a required field is missing
        raise LstmlabError(f"{where}: {exc}") from None


def budget_text(cfg: TrainConfig) -> str:
    """A run's budget in words: "2,000 steps or 10 minutes, whichever comes first"."""
    parts = []
    if cfg.max_steps:
        parts.append(f"{cfg.max_steps:,} steps")
    if cfg.epochs:
        parts.append(f"{cfg.epochs:g} epochs")
    if cfg.minutes:
        parts.append(f"{cfg.minutes:g} minutes")
    return " or ".join(parts) + (", whichever comes first" if len(parts) > 1 else "")


def train_config_from_json(raw: Any, where: str) -> dict[str, Any]:
    """A run's "train" section as TrainConfig's keywords: retired fields (see
    RETIRED_TRAIN_FIELDS) are left out; a task that still uses them reads them itself."""
    if not isinstance(raw, dict):
        raise LstmlabError(f"{where} should be a JSON object")
    # Runs saved before weight averaging existed trained without it, and resume so; those saved
    # before --momentum trained SGD with momentum 0.9.
    return {"ema_decay": 0.0, "momentum": 0.9, **{k: v for k, v in raw.items() if k not in RETIRED_TRAIN_FIELDS}}
