"""A run folder's life, the same for every task: start or resume, fit, plot, report.

    lstmlab.train / classify.train / forecast.train
        -> train_run(recipe, ...)      fresh: recipe.start   (check settings, read data, write config.json)
                                       resume: recipe.reopen (rebuild from config.json), budget extended
        -> Trainer.fit()               steps, validation, checkpoints (trainer.py)
        -> the loss plot               written even when training stops with an error or Ctrl-C
        -> recipe.finish               the trained object, its report and plots

A task's recipe says only what differs: how its data becomes a model and a
Task, and what it reports at the end. Anything every run needs (a device, a
process group) belongs here, once.

Under torchrun (see distributed.py) every process runs train_run. Rank 0 starts
the run (reads the data, writes config.json) while the others wait; then they
reopen it from the run folder, so every machine must see the run folder and its
data at the same path. Only rank 0 finishes (report, plots) and returns the result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Protocol

from torch import nn

from . import distributed
from .allocator import tune_malloc
from .checkpoint import PathLike, check_fresh_run_dir
from .config import TrainConfig, budget_text, check_resume_settings
from .devices import Precision, resolve_device, set_process_threads
from .errors import LstmlabError
from .plots import plot_losses
from .trainer import Progress, Task, Trainer, read_metrics

Log = Callable[[str], None]


@dataclass
class Setup:
    """What a recipe hands the trainer: the network, the task and the training settings."""

    model: nn.Module
    task: Task
    config: TrainConfig
    summary: str = ""  # the model in words, logged before training: "lstm 512, 3,456,789 parameters"


class Recipe(Protocol):
    """A task's part of train_run."""

    missing_data: str  # the error when no data is given for a fresh run
    loss_plot: str  # the loss plot's file name in the run folder
    reusable: tuple[str, ...]  # entries a failed start may leave in the run folder (see check_fresh_run_dir)

    def start(self, data: Any, run_dir: Path, settings: dict[str, Any], log: Log) -> Setup:
        """Check the settings, read the data, write config.json: a fresh run."""

    def reopen(self, run_dir: Path, log: Log) -> Setup:
        """Rebuild a saved run from its config.json, to be resumed."""

    def finish(self, trainer: Trainer, setup: Setup, log: Log) -> Any:
        """Log and save the results of training; return the trained object."""


# Settings of the run, not of the model or its training: they are not saved in
# config.json, so a run resumes anywhere (another device, another number of processes).
RUN_OPTIONS = ("device", "tensorboard")


def train_run(recipe: Recipe, data: Any, out: PathLike, *, resume: bool, log: Log,
              show_progress: Optional[bool], settings: dict[str, Any]) -> Any:
    """Start (or with resume=True, continue) the run in `out`, train it within its budget, and finish it.
    `settings` may also hold the RUN_OPTIONS: device ("auto", "cpu", "cuda:1", ...) and tensorboard (a folder)."""
    settings = dict(settings)
    options = {name: settings.pop(name, None) for name in RUN_OPTIONS}
    device = resolve_device(options["device"])
    if not resume:
        Precision.of(settings.get("precision", "auto"), device)  # an impossible precision fails before any work
    group = distributed.join(device)
    try:
        set_process_threads(group.local_world)
        result = _train(recipe, data, Path(out), resume, log, show_progress, settings, group, options)
        group.barrier()  # the others wait for rank 0's report, then all leave together
        return result
    finally:
        group.leave()


def _train(recipe: Recipe, data: Any, run_dir: Path, resume: bool, log: Log, show_progress: Optional[bool],
           settings: dict[str, Any], group: distributed.Group, options: dict[str, Any]) -> Any:
    if not group.leader:
        log = _silent
    if resume:
        check_resume_settings(settings)
        setup = recipe.reopen(run_dir, log) if group.leader else reopen_elsewhere(recipe, run_dir, group)
    else:
        failure: Optional[BaseException] = None
        if group.leader:
            try:
                if data is None:
                    raise LstmlabError(recipe.missing_data)
                check_fresh_run_dir(run_dir, reusable=recipe.reusable)
                setup = recipe.start(data, run_dir, dict(settings), log)
            except BaseException as exc:
                failure = exc
        group.agree(failure)  # the others wait here for config.json, then read it
        if failure is not None:
            raise failure
        if not group.leader:
            setup = reopen_elsewhere(recipe, run_dir, group)
    if resume:
        setup.config = precision_here(setup.config, group.device, log)
    trainer = Trainer(setup.model, setup.task, setup.config, run_dir, log=log, show_progress=show_progress,
                      device=group.device, group=group,
                      tensorboard=Path(options["tensorboard"]) if options["tensorboard"] else None)
    if resume:
        trainer.resume()
        trainer.extend_budget(steps=settings.get("max_steps"), minutes=settings.get("minutes"),
                              epochs=settings.get("epochs"))
        log(f"resuming {run_dir} at step {trainer.progress.step:,}; budget: {budget_text(trainer.cfg)}")
    else:
        log(f"model: {setup.summary}; {setup.task.steps_per_epoch:,} steps per epoch; "
            f"budget: {budget_text(setup.config)}")
    # glibc's default gives the step's large tensors back to the system and maps them
    # again every step (BENCHMARKS.md §13); tuned only now, so reading the corpus is not affected.
    tune_malloc()
    try:
        progress = trainer.fit()
    finally:
        if group.leader:
            metrics = read_metrics(run_dir)
            if metrics:
                plot_losses(metrics, run_dir / recipe.loss_plot, ylabel=setup.task.loss_label)
    if not group.leader:
        return None
    log(stopped_text(progress, setup.task, metrics) + f"; saved in {run_dir}")
    return recipe.finish(trainer, setup, log)


def precision_here(config: TrainConfig, device, log: Log) -> TrainConfig:
    """A run resumed on another kind of device keeps its precision where that device has it;
    else (fp16 saved on a GPU, resumed on a CPU) it continues with auto and says so."""
    try:
        Precision.of(config.precision, device)
        return config
    except LstmlabError:
        log(f"this run trained with --precision {config.precision}, which {device.type} lacks; it continues with auto")
        return dataclasses.replace(config, precision="auto")


def reopen_elsewhere(recipe: Recipe, run_dir: Path, group: distributed.Group) -> Setup:
    """A rank other than 0 reads the run rank 0 started; if it cannot (another machine
    without the run folder or its data), it says so itself."""
    try:
        return recipe.reopen(run_dir, _silent)
    except LstmlabError as exc:
        raise distributed.RankError(
            f"process {group.rank} cannot read the run: {exc}. Every machine needs the run folder and its "
            "data at the same path (a shared filesystem), and the corpus prepared with `lstmlab prepare`") from None


def _silent(line: str) -> None:
    """The log of ranks other than 0."""


def stopped_text(progress: Progress, task: Task, metrics: list[dict[str, Any]]) -> str:
    """How training ended and how good the best checkpoint is, in one line."""
    epochs = progress.step / task.steps_per_epoch
    best = next((m for m in metrics if m.get("step") == progress.best_step and task.monitor in m), None)
    score = task.describe(best) if best else f"{task.monitor} {progress.best_val:.4f}"
    return (f"stopped after {progress.step:,} steps ({epochs:,.1f} epochs, {progress.elapsed_s:,.0f}s; "
            f"{progress.stop_reason}); best checkpoint at step {progress.best_step:,}: {score}")
