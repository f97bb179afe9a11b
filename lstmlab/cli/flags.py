"""What every command group of the CLI shares: the parser class, flag types, the
training flags, and turning parsed flags into the Python API's settings.

Every flag defaults to None and is passed on only when given, so the defaults
live in one place: the config dataclasses and each task's TRAIN_DEFAULTS.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any, Optional, Union

from ..config import OPTIMIZERS, PRECISIONS, SCHEDULES, TrainConfig
from ..errors import LstmlabError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
# Seeds are 0 to 2**32 - 1, NumPy's classic range. NumPy's generators refuse negative seeds
# (a traceback in the middle of a run), and torch refuses seeds past 2**64, which the seeds
# derived from --seed for each process and epoch (seed * 1,000,003 + rank) pass far sooner.
# TrainConfig cannot refuse them itself: saved forecasting runs may hold a negative seed.
MAX_SEED = 2**32 - 1
# torch.set_num_threads overflows past 2**31; the largest single machines have about 2,000 hardware threads.
MAX_THREADS = 4_096
PRECISION_HELP = ("auto (default): bf16 autocast where the CPU has native bf16 (AVX512-BF16/AMX) or the GPU supports "
                  "it, fp16 with a gradient scaler on older GPUs, else fp32; or bf16, fp16 (CUDA only), fp32")


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake gets one line (problem + where to look), not a usage
    dump, and help is wrapped at a fixed width so docs/cli.md is reproducible."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", lambda prog: argparse.HelpFormatter(prog, width=100, max_help_position=32))
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def default_of(config: type, name: str, task_defaults: Optional[dict[str, Any]] = None) -> Any:
    """A setting's default for the help text: the task's own training defaults first
    (TRAIN_DEFAULTS of classify or forecast), then the dataclass's."""
    if task_defaults and config is TrainConfig and name in task_defaults:
        return task_defaults[name]
    return next(f.default for f in fields(config) if f.name == name)


def check_seed(seed: Optional[int], flag: str = "--seed") -> None:
    """A seed given on the command line (None: not given), before any work is done."""
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise LstmlabError(f"{flag} must be between 0 and {MAX_SEED:,}, got {seed:,}; try {flag} 0")


def check_threads(threads: int) -> None:
    """--threads, before torch sees it (devices.set_threads refuses fewer than 1 in the same words)."""
    if threads < 1:
        raise LstmlabError(f"--threads must be at least 1, got {threads}")
    if threads > MAX_THREADS:
        raise LstmlabError(f"--threads must be at most {MAX_THREADS:,}, got {threads:,}; leave it out for one per core")


def layer_sizes(text: str) -> tuple[int, ...]:
    """--hidden 512 or --hidden 256,128: one size per recurrent layer."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected layer sizes like 512 or 256,128, got {text!r}") from None


def cutoffs(text: str) -> Union[tuple[int, ...], str]:
    """--adaptive-softmax 2000,10000 (the clusters' first ids), auto (chosen from the vocabulary's
    size), or off for a full softmax."""
    if text.strip().lower() == "off":
        return ()
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected cutoffs like 2000,10000, or off, got {text!r}") from None


def items(text: str) -> tuple[str, ...]:
    """A comma-separated list, blanks dropped: --features Open,Volume."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def given(args: argparse.Namespace, skip: set[str]) -> dict[str, Any]:
    """The flags given (all default to None), minus `skip`: the settings for the API call."""
    return {k: v for k, v in vars(args).items() if v is not None and k not in skip}


def run_folder(args: argparse.Namespace, data_name: str, data_help: str) -> str:
    """The run folder a `train` command writes: --resume RUN, or --out RUN for new DATA;
    never both, and never a fresh run without either."""
    if args.resume:
        if args.data or (args.out and args.out != args.resume):
            raise LstmlabError(f"with --resume RUN, give neither {data_name} nor a different --out: "
                               f"the run remembers its {data_name.lower()}")
        return args.resume
    if not args.data:
        raise LstmlabError(f"give the {data_name} to train on ({data_help}), or --resume RUN")
    if not args.out:
        raise LstmlabError("give --out RUN, the folder to save the run in (e.g. --out runs/first)")
    return args.out


def add_run_flags(p: argparse.ArgumentParser) -> None:
    """--out and --resume: how a `train` command names its run (see run_folder)."""
    p.add_argument("--out", metavar="RUN", help="run folder to create (must not hold a run already)")
    p.add_argument("--resume", metavar="RUN",
                   help="continue RUN where it stopped; --steps/--minutes/--epochs then mean 'this much more'")


def add_progress_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-progress", dest="show_progress", action="store_false", default=None, help="hide the progress bar")


def add_device_flag(p: argparse.ArgumentParser) -> None:
    """--device, on every command that runs a model."""
    p.add_argument("--device", metavar="DEVICE",
                   help="where the model runs: auto (default: cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")


def add_run_options(p: argparse.ArgumentParser) -> None:
    """What every `train` command shares beyond its settings: the device, processes, watching."""
    r = p.add_argument_group("devices, processes and logging")
    add_device_flag(r)
    r.add_argument("--nproc", type=int, metavar="N",
                   help="train data-parallel in N processes on this machine (torch.distributed; the same as "
                        "torchrun --nproc-per-node N -m lstmlab ...); each gets cores/N threads")
    r.add_argument("--tensorboard", metavar="DIR",
                   help="also write TensorBoard event files to DIR: losses, learning rate, speed, gradient norm")
    r.add_argument("--log-every", type=int, metavar="STEPS",
                   help=f"steps between training-loss records in metrics.jsonl (default {default_of(TrainConfig, 'log_every')})")


def add_training_flags(p: argparse.ArgumentParser, task_defaults: dict[str, Any], monitor: bool = True,
                       batch: str = "texts per batch, of similar lengths") -> None:
    """Optimiser and budget flags of `classify train` and `forecast train`, with their task's defaults."""
    t = TrainConfig

    def default(name: str) -> Any:
        return default_of(t, name, task_defaults)

    g = p.add_argument_group("training")
    g.add_argument("--optimizer", choices=OPTIMIZERS, help=f"(default {default('optimizer')})")
    g.add_argument("--momentum", type=float, help=f"sgd's momentum (default {default('momentum')})")
    g.add_argument("--lr", type=float, help=f"peak learning rate (default {default('lr')})")
    g.add_argument("--weight-decay", type=float, help="weight decay (default 0)")
    g.add_argument("--batch-size", type=int, help=f"{batch} (default {default('batch_size')})")
    g.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule (default cosine over the budget)")
    g.add_argument("--warmup-steps", type=int, help=f"linear warm-up steps (default {default('warmup_steps')})")
    g.add_argument("--clip", dest="clip_grad_norm", type=float, metavar="NORM",
                   help=f"clip the gradient norm to this (default {default('clip_grad_norm')}; 0 turns it off)")
    g.add_argument("--ema-decay", type=float, metavar="DECAY",
                   help=f"validate and keep a moving average of the weights with this decay (default "
                        f"{default('ema_decay')}; 0 keeps the weights as trained)")
    g.add_argument("--seed", type=int, help="seed of the weights and batch order (default 0)")
    g.add_argument("--precision", choices=PRECISIONS, help=PRECISION_HELP)
    b = p.add_argument_group("budget")
    b.add_argument("--minutes", type=float, help=f"wall-clock budget (default {default('minutes'):g})")
    b.add_argument("--epochs", type=float, help=f"passes over the training set (default {default('epochs'):g})")
    b.add_argument("--steps", dest="max_steps", type=int, metavar="N", help="optimiser steps")
    b.add_argument("--eval-every", type=int, metavar="STEPS", help="steps between validations and checkpoints (default: one epoch)")
    b.add_argument("--patience", type=int, help=f"stop after this many validations without improvement (default {default('patience')}; 0 = never)")
    add_run_options(p)
    if monitor:
        b.add_argument("--monitor", choices=("loss", "accuracy"),
                       help="the validation score that picks the best checkpoint and stops early (default loss)")


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The sub-commands of a command that has them (classify, forecast), for the docs."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}
