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
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from . import checkpoint
from .averaging import WeightAverage, nt_asgd_triggered
from .config import BUDGET_FIELDS, TrainConfig
from .devices import Precision, describe_device
from .distributed import Group
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

    def training_loss(self, model: torch.nn.Module, batch: Any, carry: Any) -> tuple[Any, Any]:
        """(loss, carry for the next batch: a recurrent state, or None). The loss is a scalar
        tensor, or a pair (the loss to minimise, the one to report) when the objective adds
        penalties that are no part of the score (the language model's --ar and --tar)."""

    # Optional: lr_factor(batch) -> float, a factor on the scheduled learning rate for one batch
    # (the language model's --variable-seq-len scales it by the batch's length).
    # Optional: parameter_groups(model) -> [ParameterGroup, ...], the optimiser's groups, each with
    # its own factor on the rate and the step it starts training at (a classifier started from a
    # language model: discriminative rates and gradual unfreezing, ULMFiT). Default: one group.

    def evaluate(self, model: torch.nn.Module, group: Group) -> dict[str, float]:
        """Validation scores, "val_loss" among them: each rank of `group` scores its
        share (group.share) and the sums are combined (group.sum), so every rank
        gets the same scores. Inputs go to the model's device."""

    def describe(self, metrics: dict[str, float]) -> str:
        """Validation scores in words for the log, e.g. "val 1.4760 nats (2.130 bits/char)"."""


class TrainingInterrupted(Exception):
    """Ctrl-C or SIGTERM: the last checkpoint has been saved; the run can be resumed."""


class PeerLost(LstmlabError):
    """Another training process stopped answering (it died, or its machine did)."""

    peer_lost = True  # distributed.reports: the launcher, when it is lstmlab's, names the lost process


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
    processes: int = 1  # how many processes trained the run when it was saved
    # NT-ASGD (--nt-asgd): every validation loss so far, and the step its average began at (-1: not yet).
    val_losses: list[float] = dataclasses.field(default_factory=list)
    average_from: int = -1


@dataclass
class ParameterGroup:
    """Parameters that share a factor on the learning rate and the step they start training at
    (before it they are frozen: no gradient, no update)."""

    params: list[nn.Parameter]
    lr_factor: float = 1.0
    trainable_from: int = 0


def parameter_groups(model: nn.Module, task: Task) -> list[dict[str, Any]]:
    """The optimiser's parameter groups: the task's (parameter_groups), or every parameter in one.
    Parameters frozen for the whole run (requires_grad False, e.g. --freeze-embeddings) stay out."""
    grouped = getattr(task, "parameter_groups", None)
    groups = grouped(model) if grouped else [ParameterGroup(list(model.parameters()))]
    out = [{"params": [q for q in g.params if q.requires_grad], "lr_factor": g.lr_factor,
            "trainable_from": g.trainable_from} for g in groups]
    return [g for g in out if g["params"]]


def make_optimizer(name: str, params, lr: float, weight_decay: float, momentum: float = 0.0) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


# ULMFiT's slanted triangular rate (Howard & Ruder 2018, eq. 3): a linear rise over the first
# SLANTED_RISE of the steps from lr / SLANTED_RATIO to lr, then a linear fall back to it.
SLANTED_RISE = 0.1
SLANTED_RATIO = 32.0


def learning_rate(cfg: TrainConfig, step: int, planned_steps: Optional[int], lr_scale: float) -> float:
    """The schedule as a pure function of the step, so a resumed run lands on
    exactly the rate a straight run would have used."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "slanted" and planned_steps:
        cut = max(1, int(planned_steps * SLANTED_RISE))
        height = step / cut if step < cut else max(0.0, 1.0 - (step - cut) / max(1, planned_steps - cut))
        return cfg.lr * (1.0 + height * (SLANTED_RATIO - 1.0)) / SLANTED_RATIO
    if cfg.schedule == "cosine" and planned_steps:
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, planned_steps - cfg.warmup_steps))
        floor = cfg.lr * cfg.min_lr_ratio
        return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if cfg.schedule == "step":
        return cfg.lr * cfg.gamma ** (step // cfg.decay_every)
    if cfg.schedule == "plateau":
        return cfg.lr * lr_scale
    return cfg.lr


class TaskLoss(nn.Module):
    """The task's training loss as one module call, so that DistributedDataParallel,
    which synchronises gradients through its wrapped module's forward, sees every
    task's loss however the task calls the model (model(x), model.features, model.loss)."""

    def __init__(self, model: nn.Module, task: Task):
        super().__init__()
        self.model, self.task = model, task

    def forward(self, batch, carry):
        return self.task.training_loss(self.model, batch, carry)


def rank_seed(seed: int, rank: int) -> int:
    """The torch seed of rank > 0: its own dropout masks, the same on every repeat."""
    return seed * 1_000_003 + rank


def to_device(batch, device: torch.device):
    """A batch (a tuple of tensors) on the training device."""
    if device.type == "cpu":
        return batch
    return tuple(t.to(device, non_blocking=True) for t in batch)


def carry_rows(carry, rows: slice):
    """Rows (streams) of a recurrent state: entries shaped (1, B, H), one tuple per layer."""
    return None if carry is None else [tuple(t[:, rows] for t in layer) for layer in carry]


class Trainer:
    def __init__(self, model: torch.nn.Module, task: Task, config: TrainConfig, run_dir: Path,
                 log: Callable[[str], None] = tqdm.write, show_progress: Optional[bool] = None,
                 device: Optional[torch.device] = None, group: Optional[Group] = None,
                 tensorboard: Optional[Path] = None):
        self.device = device or torch.device("cpu")
        self.group = group or Group()
        self.model, self.task, self.cfg, self.run_dir = model.to(self.device), task, config, Path(run_dir)
        # Only rank 0 speaks: the others train in silence.
        self.log = log if self.group.leader else (lambda line: None)
        self.show_progress = show_progress if self.group.leader else False
        self.optimizer = make_optimizer(config.optimizer, parameter_groups(model, task), config.lr,
                                        config.weight_decay, config.momentum)
        if self.group.active and any(g["trainable_from"] > 0 for g in self.optimizer.param_groups):
            # DDP hooks the parameters that train when it wraps the model, and expects all of them.
            raise LstmlabError("gradual unfreezing (--unfreeze-epochs) freezes layers for a while, which "
                               "DistributedDataParallel cannot follow; give --unfreeze-epochs 0 under torchrun")
        self.progress = Progress(processes=self.group.world)
        self.carry = None
        self.precision = Precision.of(config.precision, self.device)
        # Scales fp16 losses so small gradients do not underflow; disabled, it passes everything through.
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision.scaled)
        self.loss_module: nn.Module = TaskLoss(self.model, task)
        if self.group.active:
            # Rank 0's weights are broadcast here, so every rank starts from the same model.
            self.loss_module = DistributedDataParallel(
                self.loss_module, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                gradient_as_bucket_view=True)
            if not self.group.leader:
                torch.manual_seed(rank_seed(config.seed, self.group.rank))
        self.tensorboard = tensorboard if self.group.leader else None
        self.writer = None
        self._interrupted = False
        self._window = WindowStats()
        self.task_rows = 0  # rows (streams) of the last global batch
        # What validation scores and the best checkpoint keeps: the weights' moving average, or the weights
        # (with NT-ASGD, until its trigger: _start_averaging).
        self.average = (WeightAverage(self.model, config.ema_decay) if config.ema_decay > 0 and not config.nt_asgd
                        else None)

    @property
    def scored_model(self) -> nn.Module:
        """The model that validation scores and the best checkpoint keeps."""
        return self.average.average if self.average is not None else self.model

    # -- state ------------------------------------------------------------
    def resume(self) -> None:
        state = checkpoint.read_last_progress(self.run_dir)
        if self.cfg.nt_asgd and state.get("average_from", -1) >= 0:
            self.average = WeightAverage(self.model, 0.0, start=state["average_from"])
        carry, state, rng_states = checkpoint.load_last(self.run_dir, self.model, self.optimizer,
                                                        self.average.average if self.average else None)
        known = {f.name for f in dataclasses.fields(Progress)}
        self.progress = Progress(**{k: v for k, v in state.items() if k in known})
        self.progress.stop_reason = ""
        saved_by, self.progress.processes = self.progress.processes, self.group.world
        if saved_by != self.group.world:
            self.log(f"the run was saved by {saved_by} process{'es' if saved_by > 1 else ''} and continues in "
                     f"{self.group.world}: each takes its share of the saved streams; dropout's random numbers "
                     "restart, so the steps from here differ from an uninterrupted run")
        if self.group.rank < len(rng_states):
            torch.set_rng_state(rng_states[self.group.rank])
        else:
            torch.manual_seed(rank_seed(self.cfg.seed, self.group.rank) + self.progress.step)
        # The saved state holds every stream (all ranks'); this rank carries its own share.
        if carry is not None:
            rows = self.task_rows = carry[0][0].shape[1]
            self.carry = [tuple(t.to(self.device) for t in layer) for layer in carry_rows(carry, self.group.share(rows))]

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
        """Every rank takes part (the streams' states and random states are gathered); rank 0 writes."""
        carry = self._global_carry()
        rng_states = list(self.group.gather_rows(torch.get_rng_state()[None], self.group.world))
        if self.group.leader:
            checkpoint.save_last(self.run_dir, self.model, self.optimizer, carry, dataclasses.asdict(self.progress),
                                 rng_states, self.average.average if self.average else None)

    def _global_carry(self):
        """The recurrent state of every stream, in the order of a one-process run."""
        if self.carry is None or not self.group.active:
            return self.carry
        rows = self.task_rows
        return [tuple(self.group.gather_rows(t.transpose(0, 1).contiguous(), rows).transpose(0, 1) for t in layer)
                for layer in self.carry]

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
        better known, so the cosine schedule ends when the time does. Rank 0's
        plan is everyone's: the schedule must be the same on every rank."""
        if not self.cfg.minutes:
            return
        left = self.cfg.minutes * 60 - self.progress.elapsed_s
        per_step = seconds_per_step + seconds_per_eval / self.cfg.eval_every
        planned = self.progress.step + int(left / per_step)
        if self.cfg.max_steps:
            planned = min(planned, self.cfg.max_steps)
        planned = int(self.group.broadcast_number(planned))
        self.progress.planned_steps = max(planned, self.progress.step + 1)

    # -- loop ---------------------------------------------------------------
    def fit(self) -> Progress:
        """Train until the budget, early stopping or Ctrl-C/SIGTERM; every rank stops at the same step."""
        try:
            return self._fit()
        except RuntimeError as exc:
            # gloo reports a peer that vanished mid-collective as a DistBackendError or as a plain
            # RuntimeError about the connection; either way the other processes are gone.
            lost = isinstance(exc, (dist.DistBackendError, dist.DistNetworkError)) or any(
                word in str(exc) for word in ("Connection", "connection", "peer", "Timed out", "timed out"))
            if not (self.group.active and lost):
                raise
            raise PeerLost(f"lost contact with another training process ({str(exc).splitlines()[0][:200]}); "
                           f"the last checkpoint in {self.run_dir} is kept: continue with "
                           f"{self.task.resume_command} --resume {self.run_dir}") from None
        finally:
            if self.writer is not None:
                self.writer.close()

    def _fit(self) -> Progress:
        p, cfg = self.progress, self.cfg
        handlers = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        start = time.monotonic() - p.elapsed_s
        bar = tqdm(total=self._step_limit(), initial=p.step, unit="step", dynamic_ncols=True,
                   disable=not self.show_progress if self.show_progress is not None else None)
        if self.tensorboard is not None:
            self.writer = open_tensorboard(self.tensorboard)
        if p.step == 0 and p.last_eval_step < 0:
            self.log(f"training on {describe_device(self.device)}"
                     + (f", {self.precision.name}" if self.precision.dtype is not None else "")
                     + (f", {self.group.world} processes" if self.group.active else ""))
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
                loss, grad_norm = self.train_step(epoch, index)
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
                self._window.add(loss, grad_norm)
                if p.step % cfg.log_every == 0:
                    self._record_training(units_per_s)
                if p.step % cfg.eval_every == 0:
                    t = time.monotonic()
                    self._evaluate_and_save(loss_sum / loss_count, units_per_s, start)
                    eval_seconds = time.monotonic() - t
                    loss_sum, loss_count = 0.0, 0
                    if cfg.minutes and steps_timed >= PLAN_AFTER_STEPS:
                        self._plan(train_seconds / steps_timed, eval_seconds)
                        bar.total = self._step_limit()
            if p.stop_reason == "interrupted":
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
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        return p

    def train_step(self, epoch: int, index: int) -> tuple[float, Optional[float]]:
        """One optimiser step on batch `index` of `epoch`: (the global batch's loss, the gradient norm
        before clipping, or None when clipping is off)."""
        p, cfg, group = self.progress, self.cfg, self.group
        lr = learning_rate(cfg, p.step, self._step_limit(), p.lr_scale)
        batch = self.task.batch(epoch, index)
        lr_factor = getattr(self.task, "lr_factor", None)
        batch_factor = lr_factor(batch) if lr_factor else 1.0
        for param_group in self.optimizer.param_groups:
            param_group["lr"] = lr * batch_factor * param_group.get("lr_factor", 1.0)
            trainable = p.step >= param_group.get("trainable_from", 0)
            if param_group["params"][0].requires_grad != trainable:  # a frozen group's turn has come
                for q in param_group["params"]:
                    q.requires_grad_(trainable)
        rows = self.task_rows = int(batch[0].shape[0])
        share = group.share(rows)
        mine = share.stop - share.start
        with self.precision.autocast():
            if mine:
                loss, carry = self.loss_module(to_device(group.rows_of(batch), self.device), self.carry)
            else:  # more ranks than rows: take part in the gradient average with nothing
                loss, carry = sum(q.sum() for q in self.model.parameters() if q.requires_grad) * 0.0, self.carry
        loss, reported = loss if isinstance(loss, tuple) else (loss, loss)
        # A rank's mean loss counts by its share of the rows, so the ranks' average
        # gradient (what DDP computes) is that of the global batch's mean loss.
        weight = mine / rows
        (value,) = group.sum([reported.item() * weight])
        if not math.isfinite(value) or (reported is not loss and not math.isfinite(loss.item())):
            what = value if not math.isfinite(value) else f"{value} with the penalties {loss.item()}"
            self._fail_nonfinite(f"the training loss became {what} at step {p.step + 1}", lr)
        self.optimizer.zero_grad(set_to_none=True)
        scaled = loss * (weight * group.world)
        grad_norm = None
        self.scaler.scale(scaled).backward()
        self.scaler.unscale_(self.optimizer)
        if cfg.clip_grad_norm > 0:
            # Recurrent nets multiply by the same matrices at every time step,
            # so a gradient can grow exponentially with sequence length;
            # clipping its norm keeps one bad batch from wrecking the weights.
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad_norm))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.average is not None:
            self.average.update(self.model, p.step)
        self.carry = carry
        return value, grad_norm

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
        # A signal may reach one rank only, and only rank 0's clock counts: the
        # votes are summed so that every rank takes the same decision.
        time_up = self.group.leader and bool(cfg.minutes) and time.monotonic() - start >= cfg.minutes * 60
        interrupted, time_up = self.group.sum([float(self._interrupted), float(time_up)])
        if interrupted:
            return "interrupted"
        limit = self._step_limit()
        if limit is not None and p.step >= limit:
            return "step budget reached"
        if time_up:
            return "time budget reached"
        if cfg.patience and p.evals_without_improvement >= cfg.patience:
            return f"early stopping: no improvement in {cfg.patience} evaluations"
        return ""

    def _record_training(self, units_per_s: float) -> None:
        """A metrics.jsonl row (and TensorBoard points) for the last log_every steps' training loss."""
        p = self.progress
        loss, grad_norm = self._window.take()
        lr = learning_rate(self.cfg, p.step, self._step_limit(), p.lr_scale)
        record = {"step": p.step, "epoch": round(p.step / self.task.steps_per_epoch, 4),
                  "elapsed_s": round(p.elapsed_s, 2), "train_loss": loss, "lr": lr,
                  f"{self.task.unit}s_per_s": round(units_per_s, 1)}
        if grad_norm is not None:
            record["grad_norm"] = grad_norm
        self._write_metrics(record)
        if self.writer is not None:
            self.writer.add_scalar("train/loss", loss, p.step)
            self.writer.add_scalar("train/lr", lr, p.step)
            self.writer.add_scalar(f"train/{self.task.unit}s_per_s", units_per_s, p.step)
            if grad_norm is not None:
                self.writer.add_scalar("train/grad_norm", grad_norm, p.step)

    def _write_metrics(self, record: dict[str, Any]) -> None:
        if self.group.leader:
            with open(self.run_dir / METRICS, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")

    def _evaluate_and_save(self, train_loss: Optional[float], units_per_s: float, start: float) -> None:
        p, cfg = self.progress, self.cfg
        scored = self.scored_model
        metrics = self.task.evaluate(scored, self.group)
        # The quantity that picks the best checkpoint and stops early (lower is better):
        # val_loss, or another the task names (a classifier may use val_error).
        val = metrics[self.task.monitor]
        if not math.isfinite(val):
            self._fail_nonfinite(f"the validation loss became {val} at step {p.step}",
                                 learning_rate(cfg, p.step, self._step_limit(), p.lr_scale))
        if cfg.nt_asgd and self.average is None:
            p.val_losses.append(val)
            if nt_asgd_triggered(p.val_losses, cfg.nt_asgd):
                self._start_averaging()
        if val < p.best_val:
            p.best_val, p.best_step, p.evals_without_improvement = val, p.step, 0
            if self.group.leader:
                checkpoint.save_best(scored, self.run_dir, p.step, val)
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
        self._write_metrics(record)
        if self.writer is not None:
            for key, value in metrics.items():
                if key.startswith("val_"):
                    self.writer.add_scalar(f"val/{key[4:]}", value, p.step)
            self.writer.flush()
        train_part = f"train {train_loss:.4f} | " if train_loss is not None else ""
        extra = f" | {units_per_s:,.0f} {self.task.unit}s/s" if units_per_s else ""
        best = " *" if p.best_step == p.step else ""
        self.log(f"step {p.step:>6} | {train_part}{self.task.describe(metrics)}{extra} | {p.elapsed_s:,.0f}s{best}")

    def _start_averaging(self) -> None:
        """NT-ASGD's switch: from this step on, validation scores (and the best checkpoint keeps) the
        mean of the weights of every step since."""
        p = self.progress
        p.average_from = p.step
        self.average = WeightAverage(self.model, 0.0, start=p.step)
        self.log(f"step {p.step:>6} | NT-ASGD: validation has not beaten its best of {self.cfg.nt_asgd} "
                 "validations ago; from here the scored weights are the mean of every step's since")

    def _on_signal(self, signum, frame) -> None:
        # A second Ctrl-C stops a single process at once (checkpoints stay whole). Under
        # torchrun a Ctrl-C reaches the workers twice (from the terminal, then as the
        # launcher's SIGTERM), so there a second signal means nothing more.
        if self._interrupted and signum == signal.SIGINT and not self.group.active:
            raise KeyboardInterrupt
        if not self._interrupted:
            name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
            again = "" if self.group.active else "; press Ctrl-C again to quit without saving"
            self.log(f"{name}: finishing this step and saving{again}")
        self._interrupted = True


class WindowStats:
    """Mean training loss and gradient norm over the steps since the last record."""

    def __init__(self):
        self.losses: list[float] = []
        self.norms: list[float] = []

    def add(self, loss: float, grad_norm: Optional[float]) -> None:
        self.losses.append(loss)
        if grad_norm is not None:
            self.norms.append(grad_norm)

    def take(self) -> tuple[float, Optional[float]]:
        loss = sum(self.losses) / max(len(self.losses), 1)
        norm = sum(self.norms) / len(self.norms) if self.norms else None
        self.losses, self.norms = [], []
        return loss, norm


def open_tensorboard(folder: Path):
    """A TensorBoard writer (torch.utils.tensorboard needs the tensorboard package)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise LstmlabError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
    return SummaryWriter(log_dir=str(folder))


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / METRICS
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
