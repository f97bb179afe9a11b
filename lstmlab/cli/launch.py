"""`lstmlab ... train --nproc N`: the same command in N processes, started by torchrun's
own launcher (torch.distributed.run), on this machine.

    lstmlab train CORPUS --out RUN --nproc 2
        == torchrun --standalone --nproc-per-node 2 -m lstmlab train CORPUS --out RUN

The launcher turns torchrun's multi-line reports into one line: a worker that
failed with a user error has already said why (rank 0 prints it), so the
launcher adds nothing; a worker that died (killed, out of memory) gets one line
naming it and the checkpoint that is kept.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Optional

from ..checkpoint import LAST
from ..devices import usable_cores
from ..distributed import LAUNCHED_BY_LSTMLAB
from ..errors import LstmlabError


def without_nproc(argv: list[str]) -> list[str]:
    """The command line minus --nproc N / --nproc=N: what each worker runs."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


# Each process holds a copy of the model and its share of the batch; torchrun would try to
# start all of them, so a typo such as 10**12 would start processes until the machine gives out.
MAX_PROCESSES = 1_024


def check_nproc(nproc: int) -> None:
    if nproc < 1:
        raise LstmlabError(f"--nproc must be at least 1, got {nproc}")
    if nproc > MAX_PROCESSES:
        raise LstmlabError(f"--nproc must be at most {MAX_PROCESSES:,}, got {nproc:,}; "
                           "try the number of cores or GPUs of this machine")


def launch(nproc: int, argv: list[str], run_dir: Optional[str]) -> int:
    """Run `lstmlab argv` in `nproc` processes; return the exit status for the user."""
    check_nproc(nproc)
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    # torchrun would set OMP_NUM_THREADS=1 and say so; each worker sets its own share of the cores.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, usable_cores() // nproc)))
    os.environ[LAUNCHED_BY_LSTMLAB] = "1"
    for name in ("torch.distributed.elastic", "torch.distributed.run", "torch.distributed.launcher"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # the launcher's own report is the one line below
    args = get_args_parser().parse_args(
        ["--standalone", f"--nproc-per-node={nproc}", "--max-restarts=0", "--monitor-interval=0.5",
         "--module", "lstmlab", *without_nproc(argv)])
    try:
        run(args)
    except SignalException as exc:
        # Every worker got the signal, finished its step, and rank 0 saved and said so.
        return 128 + int(exc.sigval) if exc.sigval != signal.SIGINT else 130
    except ChildFailedError as exc:
        rank, failure = min(exc.failures.items(), key=lambda item: item[1].timestamp)
        if failure.exitcode > 0:
            # The first to stop exited on an error it has printed (a rank's own, or rank 0's for
            # all); the others were stopped after it.
            return failure.exitcode
        print(f"lstmlab: error: training process {rank} of {nproc} {death(failure.exitcode)}{kept(run_dir)}", file=sys.stderr)
        return 1
    return 0


def kept(run_dir: Optional[str]) -> str:
    if run_dir and (Path(run_dir) / LAST).is_file():
        return f"; the last checkpoint in {run_dir} is kept: continue with --resume {run_dir}"
    return ""


def death(exitcode: int) -> str:
    if exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"failed with exit status {exitcode}"
