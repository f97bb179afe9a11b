"""`lstmlab` command line: the top-level parser and main(). Each command group has its
own module (lm.py, classify.py, forecast.py) over the Python API; flags.py holds what they share.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from .. import distributed
from ..devices import set_threads
from ..errors import LstmlabError
from ..trainer import TrainingInterrupted
from ..version import __version__
from . import classify, export, forecast, lm, serve
from .launch import launch
from .flags import EXIT_INTERRUPTED, EXIT_USER_ERROR, Parser, check_threads, subcommands


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="lstmlab", description="Recurrent networks on a CPU: character- and word-level language "
                                                 "models, text classifiers and time-series forecasters.")
    parser.add_argument("--version", action="version", version=f"lstmlab {__version__}")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="CPU threads for PyTorch (default: one per core). On a machine that is busy with "
                             "other work, 1 is faster (BENCHMARKS.md §10)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")

    lm.add_parsers(sub)  # prepare, summary, train, generate, evaluate, import-keras, inspect
    classify.add_parser(sub, Parser)  # lstmlab classify stats|train|evaluate|predict
    forecast.add_parser(sub, Parser)  # lstmlab forecast train|backtest|predict
    serve.add_parser(sub, Parser)  # lstmlab serve RUN ...: the HTTP API and the playground
    export.add_parser(sub, Parser)  # lstmlab export RUN --out FILE.onnx
    sub.add_parser("corpora", help="list the built-in corpora", description="List the built-in corpora.")
    return parser


def help_markdown() -> str:
    """Every command's --help, as the Markdown page docs/cli.md (a test keeps them in step)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    parts = ["# lstmlab command reference\n",
             "Generated from the argument parser by `make docs`; `lstmlab COMMAND --help` prints the same.\n",
             f"```\n{parser.format_help()}```\n"]
    for name, command in sub.choices.items():
        parts.append(f"## lstmlab {name}\n\n```\n{command.format_help()}```\n")
        for inner_name, inner in subcommands(command).items():
            parts.append(f"### lstmlab {name} {inner_name}\n\n```\n{inner.format_help()}```\n")
    return "\n".join(parts)


COMMANDS = {**lm.COMMANDS, "classify": classify.run, "forecast": forecast.run, "serve": serve.run,
            "export": export.run}


def main(argv: Optional[list[str]] = None) -> int:
    # Training logs are read live, often through a pipe or a file: flush each line.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return int(exc.code or 0)
    if distributed.environment_rank() != 0:
        sys.stdout = open(os.devnull, "w")  # one of several training processes: rank 0 speaks for all
    nproc = getattr(args, "nproc", None)
    if nproc is not None:
        args.nproc = None  # how many processes, not a setting of the run
        if nproc != 1 and not distributed.launched():
            try:
                return launch(nproc, list(sys.argv[1:] if argv is None else argv), args.resume or args.out)
            except LstmlabError as exc:
                print(f"lstmlab {args.command}: error: {exc}", file=sys.stderr)
                return EXIT_USER_ERROR
    try:
        if args.threads is not None:
            check_threads(args.threads)
            set_threads(args.threads)
            args.threads = None  # a process setting, not one of the command's (flags.given passes on what is set)
        COMMANDS[args.command](args)
    except LstmlabError as exc:
        if distributed.reports(exc):
            print(f"lstmlab {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except TrainingInterrupted as exc:
        if distributed.reports(exc):
            print(f"lstmlab: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        if distributed.reports(KeyboardInterrupt()):
            print("lstmlab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `lstmlab generate RUN | head`
        sys.stderr.close()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
