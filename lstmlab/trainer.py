"""One training loop for every task.

The loop knows nothing of characters, labels, series or cells: a task (the
Task protocol below) supplies batches, the loss, validation scores and the
words for them. The trainer owns optimisation, the learning-rate schedule,
clipping, the budget, early stopping, checkpoints, Ctrl-C, NaN detection and
the logs. runs.py drives it through a run folder's life (start, resume, fit).
"""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Protocol

import torch
from tqdm import tqdm

from . import checkpoint
from .config import BUDGET_FIELDS, TrainConfig
from .errors import LstmlabError

METRICS = "metrics.jsonl"
# After this many steps the time per step is known well enough to plan how
# many steps a --minutes budget allows (the cosine schedule needs an end).
PLAN_AFTER_STEPS = 20


class Task(Protocol):
    """What the Trainer needs from a task (language modelling, classification, forecasting)."""

    unit: str  # what a step's items are counted in, singular: "char", "word", "token", "window"
    units_per_step: int  # items in one batch (for the items/s figure)
    steps_per_epoch: int
    monitor: str  # the metric that picks the best checkpoint and stops early (lower is better)
    resume_command: str  # the command that continues a run of this task, e.g. "lstmlab train"
    loss_label: str  # the loss's axis label in the run's plot, e.g. "loss (nats/char)"

    def batch(self, epoch: int, index: int) -> Any:
        """Batch `index` of `epoch`, the same every time it is asked for (so a resume can jump to it)."""

    def training_loss(self, model: torch.nn.Module, batch: Any, carry: Any) -> tuple[torch.Tensor, Any]:
        """(scalar loss, carry for the next batch: a recurrent state, or None)."""

    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        """Validation scores, "val_loss" among them."""

    def describe(self, metrics: dict[str, float]) -> str:
        """Validation scores in words for the log, e.g. "val 1.4760 nats (2.130 bits/char)"."""


class TrainingInterrupted(Exception):
    """Ctrl-C: the last checkpoint has been saved; the run can be resumed."""


@dataclass
class Progress:
    """Everything about the loop's position that a resume must restore (JSON)."""

    step: int = 0
    planned_steps: Optional[int] = None
    elapsed_s: float = 0.0
    best_val: float = math.inf
    best_step: int = -1
    evals_without_improvement: int = 0
    lr_scale: float = 1.0  # reduce-on-plateau's accumulated factor
    last_eval_step: int = -1
    stop_reason: str = ""


def make_optimizer(name: str, params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)


def learning_rate(cfg: TrainConfig, step: int, planned_steps: Optional[int], lr_scale: float) -> float:
    """The schedule as a pure function of the step, so a resumed run lands on
    exactly the rate a straight run would have used."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "cosine" and planned_steps:
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, planned_steps - cfg.warmup_steps))
        floor = cfg.lr * cfg.min_lr_ratio
        return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if cfg.schedule == "step":
        return cfg.lr * cfg.gamma ** (step // cfg.decay_every)
    if cfg.schedule == "plateau":
        return cfg.lr * lr_scale
    return cfg.lr


def native_bf16() -> bool:
    """Does this CPU multiply bfloat16 natively (AVX512-BF16 or AMX)? Without
    it, bf16 is emulated and slower than float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_dtype(precision: str) -> Optional[torch.dtype]:
    if precision == "bf16" or (precision == "auto" and native_bf16()):
        return torch.bfloat16
    return None


class Trainer:
    def __init__(self, model: torch.nn.Module, task: Task, config: TrainConfig, run_dir: Path,
                 log: Callable[[str], None] = tqdm.write, show_progress: Optional[bool] = None):
        self.model, self.task, self.cfg, self.run_dir = model, task, config, Path(run_dir)
        self.log, self.show_progress = log, show_progress
        self.optimizer = make_optimizer(config.optimizer, [p for p in model.parameters() if p.requires_grad], config.lr, config.weight_decay)
        self.progress = Progress()
        self.carry = None
        self.autocast = autocast_dtype(config.precision)
        self._interrupted = False

    # -- state ------------------------------------------------------------
    def resume(self) -> None:
        self.carry, state = checkpoint.load_last(self.run_dir, self.model, self.optimizer)
        known = {f.name for f in dataclasses.fields(Progress)}
        self.progress = Progress(**{k: v for k, v in state.items() if k in known})
        self.progress.stop_reason = ""

    def extend_budget(self, steps: Optional[int] = None, minutes: Optional[float] = None,
                      epochs: Optional[float] = None) -> None:
        """On resume, train this much *more* than has been done so far."""
        p = self.progress
        changes: dict[str, Any] = {}
        if steps:
            changes["max_steps"] = p.step + steps
        if epochs:
            changes["epochs"] = p.step / self.task.steps_per_epoch + epochs
        if minutes:
            changes["minutes"] = p.elapsed_s / 60 + minutes
        if changes:
            unset = {k: None for k in BUDGET_FIELDS if k not in changes}
            self.cfg = dataclasses.replace(self.cfg, **unset, **changes)
            p.planned_steps = None  # re-plan the time budget
            p.evals_without_improvement = 0

    def _save_last(self) -> None:
        checkpoint.save_last(self.run_dir, self.model, self.optimizer, self.carry, dataclasses.asdict(self.progress))

    # -- budget -----------------------------------------------------------
    def _step_limit(self) -> Optional[int]:
        limits = [self.cfg.max_steps] if self.cfg.max_steps else []
        if self.cfg.epochs:
            limits.append(max(1, int(self.cfg.epochs * self.task.steps_per_epoch)))
        if self.progress.planned_steps and self.cfg.minutes:
            limits.append(self.progress.planned_steps)
        return min(limits) if limits else None

    def _plan(self, seconds_per_step: float, seconds_per_eval: float) -> None:
        """Turn a --minutes budget into a step count, counting evaluation time.
        Called early and again after every evaluation, as the speed becomes
        better known, so the cosine schedule ends when the time does."""
        if not self.cfg.minutes:
            return
        left = self.cfg.minutes * 60 - self.progress.elapsed_s
        per_step = seconds_per_step + seconds_per_eval / self.cfg.eval_every
        planned = self.progress.step + int(left / per_step)
        if self.cfg.max_steps:
            planned = min(planned, self.cfg.max_steps)
        self.progress.planned_steps = max(planned, self.progress.step + 1)

    # -- loop ---------------------------------------------------------------
    def fit(self) -> Progress:
        p, cfg = self.progress, self.cfg
        previous_handler = signal.signal(signal.SIGINT, self._on_sigint)
        start = time.monotonic() - p.elapsed_s
        bar = tqdm(total=self._step_limit(), initial=p.step, unit="step", dynamic_ncols=True,
                   disable=not self.show_progress if self.show_progress is not None else None)
        try:
            eval_seconds = 0.0
            if p.step == 0 and p.last_eval_step < 0:
                t = time.monotonic()
                self._evaluate_and_save(train_loss=None, units_per_s=0.0, start=start)
                eval_seconds = time.monotonic() - t
            loss_sum, loss_count, train_seconds, steps_timed = 0.0, 0, 0.0, 0
            while True:
                reason = self._should_stop(start)
                if reason:
                    p.stop_reason = reason
                    break
                epoch, index = divmod(p.step, self.task.steps_per_epoch)
                if index == 0:
                    self.carry = None  # a new epoch starts its streams afresh
                t = time.monotonic()
                loss = self.train_step(epoch, index)
                train_seconds += time.monotonic() - t
                steps_timed += 1
                loss_sum, loss_count = loss_sum + loss, loss_count + 1
                p.step += 1
                p.elapsed_s = time.monotonic() - start
                if steps_timed == PLAN_AFTER_STEPS and cfg.minutes and not p.planned_steps:
                    self._plan(train_seconds / steps_timed, eval_seconds)
                    bar.total = self._step_limit()
                    bar.refresh()
                units_per_s = steps_timed * self.task.units_per_step / max(train_seconds, 1e-9)
                bar.update(1)
                bar.set_postfix({"loss": f"{loss:.3f}", f"{self.task.unit}s_s": f"{units_per_s:,.0f}"}, refresh=False)
                if p.step % cfg.eval_every == 0:
                    t = time.monotonic()
                    self._evaluate_and_save(loss_sum / loss_count, units_per_s, start)
                    eval_seconds = time.monotonic() - t
                    loss_sum, loss_count = 0.0, 0
                    if cfg.minutes and steps_timed >= PLAN_AFTER_STEPS:
                        self._plan(train_seconds / steps_timed, eval_seconds)
                        bar.total = self._step_limit()
            if self._interrupted:
                self._save_last()
                raise TrainingInterrupted(
                    f"interrupted at step {p.step}; saved {self.run_dir / checkpoint.LAST}; "
                    f"continue with: {self.task.resume_command} --resume {self.run_dir}"
                )
            if p.last_eval_step != p.step:
                self._evaluate_and_save(loss_sum / loss_count if loss_count else None,
                                        steps_timed * self.task.units_per_step / max(train_seconds, 1e-9), start)
            else:
                self._save_last()  # records the stop reason
        finally:
            bar.close()
            signal.signal(signal.SIGINT, previous_handler)
        return p

    def train_step(self, epoch: int, index: int) -> float:
        """One optimiser step on batch `index` of `epoch`; returns the loss."""
        p, cfg = self.progress, self.cfg
        lr = learning_rate(cfg, p.step, self._step_limit(), p.lr_scale)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        batch = self.task.batch(epoch, index)
        with torch.autocast("cpu", dtype=self.autocast or torch.bfloat16, enabled=self.autocast is not None):
            loss, carry = self.task.training_loss(self.model, batch, self.carry)
        value = loss.item()
        if not math.isfinite(value):
            self._fail_nonfinite(f"the training loss became {value} at step {p.step + 1}", lr)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip_grad_norm > 0:
            # Recurrent nets multiply by the same matrices at every time step,
            # so a gradient can grow exponentially with sequence length;
            # clipping its norm keeps one bad batch from wrecking the weights.
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad_norm)
        self.optimizer.step()
        self.carry = carry
        return value

    def _fail_nonfinite(self, what: str, lr: float) -> None:
        kept = self.progress.last_eval_step
        advice = f"lower --lr (it was {lr:.3g})"
        if self.cfg.clip_grad_norm == 0:
            advice += " and turn clipping back on with --clip 1.0"
        raise LstmlabError(
            f"{what}; training stopped and the last good checkpoint (step {kept}) is kept in {self.run_dir}; {advice}"
        )

    def _should_stop(self, start: float) -> str:
        p, cfg = self.progress, self.cfg
        if self._interrupted:
            return "interrupted"
        limit = self._step_limit()
        if limit is not None and p.step >= limit:
            return "step budget reached"
        if cfg.minutes and time.monotonic() - start >= cfg.minutes * 60:
            return "time budget reached"
        if cfg.patience and p.evals_without_improvement >= cfg.patience:
            return f"early stopping: no improvement in {cfg.patience} evaluations"
        return ""

    def _evaluate_and_save(self, train_loss: Optional[float], units_per_s: float, start: float) -> None:
        p, cfg = self.progress, self.cfg
        metrics = self.task.evaluate(self.model)
        # The quantity that picks the best checkpoint and stops early (lower is better):
        # val_loss, or another the task names (a classifier may use val_error).
        val = metrics[self.task.monitor]
        if not math.isfinite(val):
            self._fail_nonfinite(f"the validation loss became {val} at step {p.step}",
                                 learning_rate(cfg, p.step, self._step_limit(), p.lr_scale))
        if val < p.best_val:
            p.best_val, p.best_step, p.evals_without_improvement = val, p.step, 0
            checkpoint.save_best(self.model, self.run_dir, p.step, val)
        elif p.step > 0:
            p.evals_without_improvement += 1
            if cfg.schedule == "plateau" and p.evals_without_improvement % cfg.plateau_patience == 0:
                p.lr_scale *= cfg.gamma
        p.last_eval_step = p.step
        p.elapsed_s = time.monotonic() - start
        self._save_last()
        record = {
            "step": p.step,
            "epoch": round(p.step / self.task.steps_per_epoch, 4),
            "elapsed_s": round(p.elapsed_s, 2),
            "train_loss": train_loss,
            **metrics,
            "lr": learning_rate(cfg, p.step, self._step_limit(), p.lr_scale),
            f"{self.task.unit}s_per_s": round(units_per_s, 1),  # chars_per_s, words_per_s, tokens_per_s, ...
        }
        with open(self.run_dir / METRICS, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        train_part = f"train {train_loss:.4f} | " if train_loss is not None else ""
        extra = f" | {units_per_s:,.0f} {self.task.unit}s/s" if units_per_s else ""
        best = " *" if p.best_step == p.step else ""
        self.log(f"step {p.step:>6} | {train_part}{self.task.describe(metrics)}{extra} | {p.elapsed_s:,.0f}s{best}")

    def _on_sigint(self, signum, frame) -> None:
        if self._interrupted:  # a second Ctrl-C: stop right now (checkpoints stay whole)
            raise KeyboardInterrupt
        self._interrupted = True
        self.log("Ctrl-C: finishing this step and saving; press again to quit without saving")


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / METRICS
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
