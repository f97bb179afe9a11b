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
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Protocol

from torch import nn

from .checkpoint import PathLike, check_fresh_run_dir
from .config import TrainConfig, budget_text, check_resume_settings
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


def train_run(recipe: Recipe, data: Any, out: PathLike, *, resume: bool, log: Log,
              show_progress: Optional[bool], settings: dict[str, Any]) -> Any:
    """Start (or with resume=True, continue) the run in `out`, train it within its budget, and finish it."""
    run_dir = Path(out)
    if resume:
        check_resume_settings(settings)
        setup = recipe.reopen(run_dir, log)
        trainer = Trainer(setup.model, setup.task, setup.config, run_dir, log=log, show_progress=show_progress)
        trainer.resume()
        trainer.extend_budget(steps=settings.get("max_steps"), minutes=settings.get("minutes"),
                              epochs=settings.get("epochs"))
        log(f"resuming {run_dir} at step {trainer.progress.step:,}; budget: {budget_text(trainer.cfg)}")
    else:
        if data is None:
            raise LstmlabError(recipe.missing_data)
        check_fresh_run_dir(run_dir, reusable=recipe.reusable)
        setup = recipe.start(data, run_dir, dict(settings), log)
        log(f"model: {setup.summary}; {setup.task.steps_per_epoch:,} steps per epoch; "
            f"budget: {budget_text(setup.config)}")
        trainer = Trainer(setup.model, setup.task, setup.config, run_dir, log=log, show_progress=show_progress)
    try:
        progress = trainer.fit()
    finally:
        metrics = read_metrics(run_dir)
        if metrics:
            plot_losses(metrics, run_dir / recipe.loss_plot, ylabel=setup.task.loss_label)
    log(stopped_text(progress, setup.task, metrics) + f"; saved in {run_dir}")
    return recipe.finish(trainer, setup, log)


def stopped_text(progress: Progress, task: Task, metrics: list[dict[str, Any]]) -> str:
    """How training ended and how good the best checkpoint is, in one line."""
    epochs = progress.step / task.steps_per_epoch
    best = next((m for m in metrics if m.get("step") == progress.best_step), None)
    score = task.describe(best) if best else f"{task.monitor} {progress.best_val:.4f}"
    return (f"stopped after {progress.step:,} steps ({epochs:,.1f} epochs, {progress.elapsed_s:,.0f}s; "
            f"{progress.stop_reason}); best checkpoint at step {progress.best_step:,}: {score}")
